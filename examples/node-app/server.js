// A dependency-free HTTP app on node:http: Strata, like App Engine, runs `npm start` and passes PORT.
"use strict";
const http = require("node:http");

const port = Number(process.env.PORT || 8080);

const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
    return;
  }
  const body = JSON.stringify({
    hello: "from Strata",
    path: req.url,
    node: process.version,
    service: process.env.GAE_SERVICE || "default",
    version: process.env.GAE_VERSION || "unknown",
  });
  res.writeHead(200, { "content-type": "application/json" });
  res.end(body + "\n");
});

server.listen(port, () => console.log(`listening on :${port}`));
// Stop accepting, finish in-flight requests, exit: what the platform expects on SIGTERM.
process.on("SIGTERM", () => server.close(() => process.exit(0)));
