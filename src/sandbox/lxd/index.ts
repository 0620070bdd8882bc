export { LxdDriver, LXD_CONFIG_LABEL, type LxdDriverOptions, type LxdPrepared } from "./driver.js";
