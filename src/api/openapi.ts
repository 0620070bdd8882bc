import { z } from "zod";
import type { Route } from "./routes.js";
import { ErrorBody } from "./schemas.js";

/** /v1/openapi.json, generated from the same route table and zod schemas the handlers validate with. */
export function openApiDocument(routes: readonly Route[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: "input", unrepresentable: "any" });
  for (const r of routes) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    const query = r.query ? Object.entries((schema(r.query) as { properties?: Record<string, unknown> }).properties ?? {}).map(([name, s]) => ({ name, in: "query", schema: s })) : [];
    const op: Record<string, unknown> = {
      summary: r.summary,
      parameters: [...params, ...query],
      responses: {
        "200": {
          description: "OK",
          content: { [r.streams ? "application/x-ndjson" : "application/json"]: r.response ? { schema: schema(r.response) } : {} },
        },
        default: { description: "Error", content: { "application/json": { schema: schema(ErrorBody) } } },
      },
      ...(r.auth && { security: [{ bearer: [] }] }),
    };
    if (r.body) op.requestBody = { required: true, content: { "application/json": { schema: schema(r.body) } } };
    if (r.method === "POST" && r.path.endsWith("/versions")) {
      op.requestBody = { required: true, content: { "application/gzip": { schema: { type: "string", format: "binary" } } } };
    }
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: "3.1.0",
    info: { title: "Strata API", version: "0.1.0" },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    paths,
  };
}
