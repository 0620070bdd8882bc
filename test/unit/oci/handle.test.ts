import assert from "node:assert/strict";
import { test } from "node:test";
import { OciHandleData, ociHandleData } from "../../../src/sandbox/oci/handle.js";

const cases: Array<{ name: string; stored: unknown; parsed: OciHandleData | undefined }> = [
  { name: "a handle written now round-trips", stored: ociHandleData("10.224.0.5", 8080), parsed: { v: 1, address: "10.224.0.5", port: 8080 } },
  { name: "a handle stored before versions were recorded is version 1", stored: { address: "10.224.0.5", port: 8080 }, parsed: { v: 1, address: "10.224.0.5", port: 8080 } },
  { name: "a version this daemon does not know is refused", stored: { v: 2, address: "10.224.0.5", port: 8080 }, parsed: undefined },
  { name: "a handle without an address is refused", stored: { v: 1, port: 8080 }, parsed: undefined },
  { name: "a port out of range is refused", stored: { v: 1, address: "10.224.0.5", port: 70000 }, parsed: undefined },
];

for (const c of cases) {
  test(`OCI handle data: ${c.name}`, () => {
    const r = OciHandleData.safeParse(JSON.parse(JSON.stringify(c.stored)));
    assert.deepEqual(r.success ? r.data : undefined, c.parsed);
  });
}
