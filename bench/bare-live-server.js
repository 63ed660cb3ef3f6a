// The baseline for bench/auth.bench.ts's /health/live probes: a bare node:http server in a process of its own
// answering what the ops port answers, with nothing else on its event loop. Probed in turn with the ops port
// by the same prober, under the same load, its times are what the probe costs on this machine at that moment
// (process wake-ups, a fresh TCP connection, the prober's own delays); the ops port's excess over it is the
// platform's. Prints one JSON line with its URL when it listens; stops when stdin closes.
import http from "node:http";

const body = JSON.stringify({ status: "ok" });
const server = http.createServer((request, response) => {
  request.resume();
  response.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
  response.end(body);
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}/health/live` })}\n`);
});
process.stdin.resume();
process.stdin.on("end", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
