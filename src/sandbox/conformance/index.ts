/** The one test suite every sandbox driver runs (node:test), and the image and helpers it uses. */
export { runConformance } from "./suite.js";
export type { ConformanceOptions } from "./suite.js";
export { conformanceImage } from "./test-image.js";
export { httpGet, waitForHttp, waitForState, recordingIO, leftovers } from "./helpers.js";
