export { LogStore, type LogLine } from "./log-store.js";
