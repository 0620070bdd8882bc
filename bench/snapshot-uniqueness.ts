/**
 * What microVMs restored from one snapshot share, the measure behind keeping config.yaml
 * `microvm.snapshots` opt-in: a Python guest uses OpenSSL's generator and Python's random module once
 * before its snapshot (as an app that opens a TLS connection or seeds at start does); SIBLINGS instances
 * restored from that snapshot each draw 4 values from the kernel (os.urandom: getrandom, reseeded by the
 * guest init after a restore), from OpenSSL's RAND_bytes and from Python's random module. The table counts,
 * per generator, the sibling pairs that drew a value in common: any is a repeat no app expects.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataHome } from "../src/home.js";
import { ImageCatalog, imagePaths } from "../src/images/catalog.js";
import { OciLayout } from "../src/images/layout.js";
import { HostNetwork } from "../src/net/index.js";
import { waitForHttp } from "../src/sandbox/conformance/index.js";
import type { InstanceSpec } from "../src/sandbox/driver.js";
import { MicrovmDriver } from "../src/sandbox/microvm/index.js";
import type { BenchRow } from "./measure.js";

const SIBLINGS = 4;
const io = { log: () => undefined };

/** GET / answers "ok" (readiness draws nothing); GET /draw answers 4 draws from each generator. */
const DRAW_PY = `
import http.server, json, os, random, ssl
ssl.RAND_bytes(16)
random.random()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        d = {"kernel (os.urandom)": [os.urandom(8).hex() for _ in range(4)], "OpenSSL RAND_bytes": [ssl.RAND_bytes(8).hex() for _ in range(4)], "Python random": ["%.15f" % random.random() for _ in range(4)]} if self.path == "/draw" else "ok"
        body = json.dumps(d).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()
`;

const spec = (id: string): InstanceSpec => ({
  instanceId: id, app: "bench-mv-draw", version: "v1", port: 8080, env: { PORT: "8080" },
  limits: { memoryMb: 256, cpuMillis: 1000, pids: 256 }, command: ["python3", "-c", DRAW_PY],
});

function draw(endpoint: unknown): Promise<Record<string, string[]>> {
  const { host, port } = endpoint as { host: string; port: number };
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: "/draw", timeout: 30_000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(JSON.parse(body) as Record<string, string[]>));
    });
    req.on("timeout", () => req.destroy(new Error("GET /draw: no answer within 30 s")));
    req.on("error", reject);
    req.end();
  });
}

export async function benchSnapshotUniqueness(): Promise<BenchRow[]> {
  const store = new StrataHome(process.env.STRATA_BENCH_IMAGES ?? "/var/tmp/strata-test-images");
  const image = await new ImageCatalog(store, new OciLayout(imagePaths(store).layout)).ensure("python");
  const root = await mkdtemp(join("/var/tmp", "strata-bench-uniq-"));
  const home = new StrataHome(root);
  const network = new HostNetwork(home, { bridge: "stratabenchuq0", subnet: "10.233.13.0/24" });
  const driver = new MicrovmDriver({ home, network, snapshots: true });
  try {
    const probe = await driver.probe();
    if (!probe.available) throw new Error(`microvm unavailable: ${probe.reason}`);
    await network.ensure();
    const snapDir = join(root, "cache", "microvm-snapshots");
    const prepared = await driver.prepare(image, spec("bench-uq-prep"));
    const first = await driver.start(prepared, spec("bench-uq-first"), io);
    await waitForHttp(first.endpoint, "/", 300_000);
    const hasSnapshot = async () => (await readdir(snapDir, { recursive: true }).catch(() => [] as string[])).some((f) => f.endsWith(".vmstate"));
    for (let i = 0; i < 3000 && !(await hasSnapshot()); i++) await sleep(20);
    await driver.stop(first, 0);
    if (!(await hasSnapshot())) throw new Error("no snapshot of the first instance within 60 s");
    const draws: Array<Record<string, string[]>> = [];
    let restored = 0;
    for (let i = 0; i < SIBLINGS; i++) {
      const inst = await driver.start(prepared, spec(`bench-uq-${i}`), io);
      try {
        await waitForHttp(inst.endpoint, "/", 60_000);
        if (/restored/.test(inst.detail ?? "")) restored++;
        draws.push(await draw(inst.endpoint));
      } finally {
        await driver.stop(inst, 0);
      }
    }
    await driver.release(prepared);
    const rows: BenchRow[] = [{ name: `Python guests restored from one snapshot`, value: restored, unit: `of ${SIBLINGS}` }];
    for (const gen of Object.keys(draws[0]!)) {
      let pairs = 0;
      let shared = 0;
      for (let i = 0; i < draws.length; i++) {
        for (let j = i + 1; j < draws.length; j++) {
          pairs++;
          if (draws[i]![gen]!.some((v) => draws[j]![gen]!.includes(v))) shared++;
        }
      }
      rows.push({ name: `sibling pairs that drew a value in common from ${gen} (4 draws each)`, value: shared, unit: `of ${pairs}` });
    }
    return rows;
  } finally {
    await driver.sweep(new Set());
    await driver.close();
    await network.teardown();
    await rm(root, { recursive: true, force: true });
  }
}
