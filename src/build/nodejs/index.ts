/** The Node.js buildpack: nodejs base image, node_modules layer cached by the lockfile, `npm start` by default. */
export { NodeBuilder } from "./builder.js";
