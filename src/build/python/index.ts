/** The Python buildpack: python3 base image, cached venv dependency layer, gunicorn by default. */
export { PythonBuilder } from "./builder.js";
