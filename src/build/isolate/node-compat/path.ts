/**
 * node:path under nodejs_compat, bundled into a worker by the isolate builder: path-browserify (Node's
 * POSIX path module for bundlers). A worker has no working directory; as under workerd, relative paths
 * resolve against "/".
 */
import npm from "path-browserify";

const resolve = (...paths: string[]): string => npm.resolve("/", ...paths);
const relative = (from: string, to: string): string => npm.relative(resolve(from), resolve(to));

const posix = { ...npm, resolve, relative };
(posix as { posix: unknown }).posix = posix;
export default posix;
export const { basename, delimiter, dirname, extname, format, isAbsolute, join, normalize, parse, sep, toNamespacedPath } = posix;
export { posix, relative, resolve };
