// serve.mjs runs a Worker-style module (default: worker.mjs) as an HTTP
// server on 127.0.0.1, for `pubsub dev` (which allows http:// hooks on
// loopback addresses):
//
//   PUBSUB_JWKS="$(pubsub broker public-keys my-broker)" node serve.mjs [worker.mjs]
//
// It prints "listening on http://127.0.0.1:<port>/". PORT picks the port
// (default: any free one). FAIL_MODE=500|garbage|hang makes it answer
// every request with a 500, with a body that is not JSON, or never, for
// testing what the broker does when a hook fails.
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

const workerFile = path.resolve(process.argv[2] ?? new URL("worker.mjs", import.meta.url).pathname);
const worker = (await import(pathToFileURL(workerFile).href)).default;
const env = { PUBSUB_JWKS: process.env.PUBSUB_JWKS ?? '{"keys":[]}' };
const failMode = process.env.FAIL_MODE ?? "";

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  console.log(JSON.stringify({ request: req.url, bytes: Buffer.concat(chunks).length }));
  if (failMode === "hang") return;
  if (failMode === "500") { res.writeHead(500).end("failing on purpose"); return; }
  if (failMode === "garbage") { res.writeHead(200).end("<html>not json"); return; }
  const request = new Request("http://" + req.headers.host + req.url, {
    method: req.method, headers: req.headers, body: Buffer.concat(chunks),
  });
  const response = await worker.fetch(request, env);
  const out = Buffer.from(await response.arrayBuffer());
  console.log(JSON.stringify({ status: response.status, answer: out.toString() }));
  res.writeHead(response.status, Object.fromEntries(response.headers)).end(out);
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/`);
});
