import { createServer } from "node:net";
import type { AddressInfo } from "node:net";

/** A TCP listener on the host's 127.0.0.1 that counts the connections it gets; closed after the test. */
export async function hostLoopbackListener(t: { after(fn: () => Promise<void>): void }): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}
