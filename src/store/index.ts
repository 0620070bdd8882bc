export type { Store } from "./store.js";
export { SqliteStore } from "./sqlite-store.js";
export type * from "./types.js";
