/** Static file serving for the router: a StaticTree behind App Engine handler rules. */
export { StaticSite, type StaticSiteOptions, type StaticOutcome } from "./site.js";
export { ByteCache } from "./byte-cache.js";
export { compileHandlers, matchHandler, type Handler, type CompiledHandler, type HandlerMatch } from "./handlers.js";
