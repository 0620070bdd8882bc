/**
 * Bundled into every WASI CGI app by the isolate builder (not part of the engine): serves each
 * request by running the WASI program once, CGI-style — the request body on stdin, the request in
 * CGI variables (REQUEST_METHOD, PATH_INFO, QUERY_STRING, HTTP_*), the response on stdout as
 * headers, a blank line, then the body. Implements the WASI preview1 calls such a program needs.
 */
const ESUCCESS = 0, EBADF = 8, EINVAL = 28, ENOSYS = 52, ESPIPE = 70;

class ProcExit {
  constructor(readonly code: number) {}
}

interface CgiRun { stdout: Uint8Array; stderr: Uint8Array; code: number }

function runWasi(module: WebAssembly.Module, args: string[], env: string[], stdin: Uint8Array): CgiRun {
  const enc = new TextEncoder();
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  let stdinAt = 0;
  let memory: WebAssembly.Memory | null = null;
  const mem = (): DataView => new DataView(memory!.buffer);
  const bytes = (): Uint8Array => new Uint8Array(memory!.buffer);
  const strings = (list: string[]) => list.map((s) => enc.encode(s + "\0"));
  const sizes = (list: Uint8Array[], countPtr: number, sizePtr: number): number => {
    mem().setUint32(countPtr, list.length, true);
    mem().setUint32(sizePtr, list.reduce((n, s) => n + s.length, 0), true);
    return ESUCCESS;
  };
  const copyOut = (list: Uint8Array[], ptrs: number, buf: number): number => {
    for (const s of list) {
      mem().setUint32(ptrs, buf, true);
      bytes().set(s, buf);
      ptrs += 4;
      buf += s.length;
    }
    return ESUCCESS;
  };
  const argv = strings(args);
  const envv = strings(env);
  const wasi: Record<string, (...a: never[]) => number> = {
    args_sizes_get: (c: number, s: number) => sizes(argv, c, s),
    args_get: (p: number, b: number) => copyOut(argv, p, b),
    environ_sizes_get: (c: number, s: number) => sizes(envv, c, s),
    environ_get: (p: number, b: number) => copyOut(envv, p, b),
    fd_write: (fd: number, iovs: number, len: number, written: number) => {
      if (fd !== 1 && fd !== 2) return EBADF;
      let n = 0;
      for (let i = 0; i < len; i++) {
        const ptr = mem().getUint32(iovs + i * 8, true);
        const size = mem().getUint32(iovs + i * 8 + 4, true);
        (fd === 1 ? out : err).push(bytes().slice(ptr, ptr + size));
        n += size;
      }
      mem().setUint32(written, n, true);
      return ESUCCESS;
    },
    fd_read: (fd: number, iovs: number, len: number, read: number) => {
      if (fd !== 0) return EBADF;
      let n = 0;
      for (let i = 0; i < len; i++) {
        const ptr = mem().getUint32(iovs + i * 8, true);
        const size = mem().getUint32(iovs + i * 8 + 4, true);
        const chunk = stdin.subarray(stdinAt, stdinAt + size);
        bytes().set(chunk, ptr);
        stdinAt += chunk.length;
        n += chunk.length;
        if (chunk.length < size) break;
      }
      mem().setUint32(read, n, true);
      return ESUCCESS;
    },
    fd_close: (fd: number) => (fd <= 2 ? ESUCCESS : EBADF),
    fd_seek: (fd: number) => (fd <= 2 ? ESPIPE : EBADF),
    fd_fdstat_get: (fd: number, buf: number) => {
      if (fd > 2) return EBADF;
      const v = mem();
      v.setUint8(buf, 2); // character device
      v.setUint16(buf + 2, 0, true);
      v.setBigUint64(buf + 8, 0xffffffffn, true);
      v.setBigUint64(buf + 16, 0n, true);
      return ESUCCESS;
    },
    fd_fdstat_set_flags: () => ESUCCESS,
    fd_prestat_get: () => EBADF, // no preopened directories: the program sees no file system
    fd_prestat_dir_name: () => EBADF,
    proc_exit: (code: number) => {
      throw new ProcExit(code);
    },
    clock_time_get: (id: number, _precision: bigint, ptr: number) => {
      if (id > 3) return EINVAL;
      mem().setBigUint64(ptr, BigInt(Math.round((id === 0 ? Date.now() : performance.now()) * 1e6)), true);
      return ESUCCESS;
    },
    clock_res_get: (_id: number, ptr: number) => {
      mem().setBigUint64(ptr, 1_000_000n, true);
      return ESUCCESS;
    },
    random_get: (ptr: number, len: number) => {
      for (let at = 0; at < len; at += 65536) crypto.getRandomValues(new Uint8Array(memory!.buffer as ArrayBuffer, ptr + at, Math.min(len - at, 65536)));
      return ESUCCESS;
    },
    sched_yield: () => ESUCCESS,
  };
  const imports: Record<string, Record<string, unknown>> = { wasi_snapshot_preview1: { ...wasi } };
  for (const imp of WebAssembly.Module.imports(module)) {
    const ns = (imports[imp.module] ??= {});
    if (imp.kind === "function" && !(imp.name in ns)) ns[imp.name] = () => ENOSYS; // e.g. path_open: no files here
  }
  const instance = new WebAssembly.Instance(module, imports as WebAssembly.Imports);
  memory = instance.exports["memory"] as WebAssembly.Memory;
  let code = 0;
  try {
    (instance.exports["_start"] as () => void)();
  } catch (e) {
    if (!(e instanceof ProcExit)) throw e;
    code = e.code;
  }
  const join = (parts: Uint8Array[]) => {
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    return all;
  };
  return { stdout: join(out), stderr: join(err), code };
}

function cgiEnv(request: Request, vars: Record<string, unknown>, length: number): string[] {
  const url = new URL(request.url);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) if (typeof v === "string") env[k] = v;
  Object.assign(env, {
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: "HTTP/1.1",
    SERVER_SOFTWARE: "Strata",
    REQUEST_METHOD: request.method,
    SCRIPT_NAME: "",
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    SERVER_NAME: url.hostname,
    SERVER_PORT: url.port || (url.protocol === "https:" ? "443" : "80"),
    REQUEST_URI: url.pathname + url.search,
  });
  if (length) env["CONTENT_LENGTH"] = String(length);
  const type = request.headers.get("content-type");
  if (type) env["CONTENT_TYPE"] = type;
  for (const [k, v] of request.headers) env[`HTTP_${k.toUpperCase().replace(/-/g, "_")}`] = v;
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

function cgiResponse(run: CgiRun): Response {
  const text = run.stdout;
  let split = -1, skip = 0;
  for (let i = 0; i < text.length - 1; i++) {
    if (text[i] === 10 && text[i + 1] === 10) { split = i; skip = 2; break; }
    if (text[i] === 13 && text[i + 1] === 10 && text[i + 2] === 13 && text[i + 3] === 10) { split = i; skip = 4; break; }
  }
  if (split < 0) {
    console.error(`the WASI program (exit ${run.code}) wrote no CGI header block (headers, blank line, body) to stdout`);
    return new Response("Bad Gateway: the program's output is not a CGI response\n", { status: 502 });
  }
  const headers = new Headers();
  let status = 200;
  for (const line of new TextDecoder().decode(text.subarray(0, split)).split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 500;
    else headers.append(name, value);
  }
  if (headers.has("location") && status === 200) status = 302;
  const body = text.slice(split + skip) as Uint8Array<ArrayBuffer>;
  return new Response([101, 204, 205, 304].includes(status) ? null : body, { status, headers });
}

export async function serveWasiCgi(module: WebAssembly.Module, request: Request, env: Record<string, unknown>): Promise<Response> {
  const body = new Uint8Array(await request.arrayBuffer());
  const run = runWasi(module, ["app.wasm"], cgiEnv(request, env, body.length), body);
  if (run.stderr.length) for (const line of new TextDecoder().decode(run.stderr).split("\n")) if (line) console.error(line);
  return cgiResponse(run);
}
