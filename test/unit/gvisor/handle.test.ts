import assert from "node:assert/strict";
import { test } from "node:test";
import { GvisorHandleData } from "../../../src/sandbox/gvisor/handle.js";

const cases: Array<{ name: string; stored: unknown; parsed: GvisorHandleData | undefined }> = [
  { name: "a handle written now keeps how the sandbox runs", stored: { v: 1, address: "10.224.0.5", port: 8080, detail: "systrap, host" }, parsed: { v: 1, address: "10.224.0.5", port: 8080, detail: "systrap, host" } },
  { name: "a handle written before the detail was recorded has none", stored: { address: "10.224.0.5", port: 8080 }, parsed: { v: 1, address: "10.224.0.5", port: 8080 } },
  { name: "a detail that is not text is refused", stored: { v: 1, address: "10.224.0.5", port: 8080, detail: 3 }, parsed: undefined },
  { name: "an OCI version this daemon does not know is refused", stored: { v: 2, address: "10.224.0.5", port: 8080, detail: "ptrace, netstack" }, parsed: undefined },
];

for (const c of cases) {
  test(`gVisor handle data: ${c.name}`, () => {
    const r = GvisorHandleData.safeParse(JSON.parse(JSON.stringify(c.stored)));
    assert.deepEqual(r.success ? r.data : undefined, c.parsed);
  });
}
