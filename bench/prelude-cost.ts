/**
 * The isolate prelude's size and what evaluating it adds to each new isolate: the engine's own
 * IsolatePool.create() (isolate, context, host bridge, prelude from its code cache) against a bare isolate
 * and context. Run by bench/isolate.ts in a process of its own (isolated-vm needs --no-node-snapshot);
 * prints its rows as JSON.
 */
import ivm from "isolated-vm";
import { IsolatePool } from "../src/sandbox/isolate/engine/isolate-pool.js";
import { bundlePrelude } from "../src/sandbox/isolate/engine/prelude-source.js";

const SAMPLES = 40;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (ms: number): number => Math.round(ms * 100) / 100;

const code = await bundlePrelude();
const pool = new IsolatePool({ code });
try {
  (await pool.create(128)).isolate.dispose(); // the first compile produces the code cache the rest use
  const full: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    let t0 = performance.now();
    const w = await pool.create(128);
    full.push(performance.now() - t0);
    w.isolate.dispose();
    t0 = performance.now();
    const isolate = new ivm.Isolate({ memoryLimit: 128 });
    await isolate.createContext();
    bare.push(performance.now() - t0);
    isolate.dispose();
  }
  console.log(JSON.stringify([
    { name: "isolate prelude size (bundled script)", value: Math.round(Buffer.byteLength(code) / 1024), unit: "KiB" },
    { name: `new isolate with the prelude (pool.create, code cache), median of ${SAMPLES}`, value: round(median(full)), unit: "ms", peer: `bare isolate + context ${round(median(bare))} ms` },
    { name: "prelude evaluation per new isolate (difference of medians)", value: round(median(full) - median(bare)), unit: "ms" },
  ]));
} finally {
  pool.close();
}
