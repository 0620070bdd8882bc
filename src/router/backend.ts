import type { Endpoint } from "../sandbox/index.js";

/** A ready instance lent to one request; release() when the response is done. */
export interface Lease {
  readonly instanceId: string;
  readonly endpoint: Endpoint;
  /** `unreachable`: the instance refused the connection, so it is taken out of service at once. */
  release(problem?: { unreachable: Error }): void;
}

/**
 * What the router asks for when a request needs a running instance (the scheduler implements it). The
 * promise is the activator's hold: it resolves when an instance is ready, or rejects with a StrataError
 * (e.g. code INSTANCE_FAILED, details.retryAfterS) when the bound on waiting is reached.
 */
export interface InstanceSource {
  acquire(app: string, version: string): Promise<Lease>;
}
