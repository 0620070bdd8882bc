import http from "node:http";
import { readFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { StrataError, type ErrorCode } from "../errors.js";
import { StrataHome } from "../home.js";
import { readDaemonInfo, type DaemonInfo } from "../daemon-info.js";

/** The API client: the CLI's only way to the daemon. */
export class ApiClient {
  private constructor(
    readonly baseUrl: string,
    private readonly token: string,
    readonly info: DaemonInfo | undefined,
  ) {}

  static async connect(home = new StrataHome()): Promise<ApiClient> {
    const info = await readDaemonInfo(home);
    const baseUrl = process.env.STRATA_API_URL ?? info?.apiUrl;
    if (!baseUrl) {
      throw new StrataError("DAEMON_UNREACHABLE", `no Strata daemon is running for ${home.root} (start one with: strata up -d)`);
    }
    let token = process.env.STRATA_TOKEN;
    if (!token) {
      try {
        token = (await readFile(home.tokenFile, "utf8")).trim();
      } catch (err) {
        throw new StrataError("UNAUTHORIZED", `cannot read the API token at ${home.tokenFile}: ${(err as Error).message}`);
      }
    }
    return new ApiClient(baseUrl, token, info);
  }

  async get<T>(path: string): Promise<T> {
    return (await this.request("GET", path)) as T;
  }
  async post<T>(path: string, body?: unknown): Promise<T> {
    return (await this.request("POST", path, body)) as T;
  }
  async put<T>(path: string, body?: unknown): Promise<T> {
    return (await this.request("PUT", path, body)) as T;
  }
  async delete<T>(path: string): Promise<T> {
    return (await this.request("DELETE", path)) as T;
  }

  /** Sends a file's stream as the body and returns the JSON answer. */
  async upload<T>(path: string, body: Readable, headers: Record<string, string>): Promise<T> {
    const res = await this.raw("POST", path, headers, body);
    if ((res.statusCode ?? 500) >= 400) throw await errorOf(res);
    return JSON.parse(await readAll(res)) as T;
  }

  /** Sends `body` (a stream) and calls onLine for each NDJSON line of the streamed answer. */
  async stream(
    method: string,
    path: string,
    body: Readable | undefined,
    onLine: (value: unknown) => void,
    headers: Record<string, string> = {},
  ): Promise<void> {
    const res = await this.raw(method, path, headers, body);
    if ((res.statusCode ?? 500) >= 400) throw await errorOf(res);
    let buf = "";
    res.setEncoding("utf8");
    for await (const chunk of res) {
      buf += chunk as string;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) onLine(JSON.parse(line));
      }
    }
  }

  /**
   * A request whose answer is not the API's JSON (a function's result): status, headers and bytes. An
   * answer with the API's error document is thrown as its StrataError.
   */
  async exchange(method: string, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const res = await this.raw(method, path, headers, body);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    const status = res.statusCode ?? 500;
    if (status >= 400 && String(res.headers["content-type"] ?? "").startsWith("application/json; charset=utf-8")) {
      const parsed = JSON.parse(bytes.toString("utf8")) as { error?: { code: ErrorCode; message: string; details?: Record<string, unknown> } };
      if (parsed.error) throw new StrataError(parsed.error.code, parsed.error.message, parsed.error.details);
    }
    return { status, headers: res.headers, body: bytes };
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await this.raw(method, path, payload ? { "content-type": "application/json" } : {}, payload);
    if ((res.statusCode ?? 500) >= 400) throw await errorOf(res);
    const text = await readAll(res);
    return text ? JSON.parse(text) : undefined;
  }

  private raw(method: string, path: string, headers: Record<string, string>, body?: string | Readable): Promise<http.IncomingMessage> {
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers: { ...headers, authorization: `Bearer ${this.token}` } }, resolve);
      req.on("error", (err: NodeJS.ErrnoException) =>
        reject(
          err.code === "ECONNREFUSED"
            ? new StrataError("DAEMON_UNREACHABLE", `the Strata daemon at ${this.baseUrl} is not answering (start it with: strata up -d)`)
            : new StrataError("DAEMON_UNREACHABLE", `request to ${url.href} failed: ${err.message}`),
        ),
      );
      if (body === undefined) req.end();
      else if (typeof body === "string") req.end(body);
      else body.pipe(req);
    });
  }
}

async function readAll(res: http.IncomingMessage): Promise<string> {
  res.setEncoding("utf8");
  let text = "";
  for await (const c of res) text += c as string;
  return text;
}

async function errorOf(res: http.IncomingMessage): Promise<StrataError> {
  const text = await readAll(res);
  try {
    const body = JSON.parse(text) as { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } };
    return new StrataError(body.error.code, body.error.message, body.error.details);
  } catch {
    return new StrataError("INTERNAL", `the daemon answered ${res.statusCode}: ${text.slice(0, 500)}`);
  }
}
