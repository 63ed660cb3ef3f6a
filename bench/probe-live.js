// A liveness prober in its own process, as a kubelet is: one GET on a fresh connection every 5 ms until
// stdin closes, then one JSON line with every answer time in ms. Run by bench/auth.bench.ts, so that the
// probe's times are the server's and not those of a client that also has 50 logins in flight.
import http from "node:http";

const url = process.argv[2];
if (!url) {
  process.stderr.write("usage: probe-live.js URL\n");
  process.exit(2);
}
const times = [];
let running = true;
process.stdin.resume();
process.stdin.on("end", () => (running = false));

const probeOnce = () =>
  new Promise((resolve) => {
    const started = performance.now();
    const request = http.get(url, { agent: false }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode === 200 ? performance.now() - started : undefined));
    });
    request.on("error", () => resolve(undefined));
  });

while (running) {
  const ms = await probeOnce();
  if (ms !== undefined) times.push(ms);
  await new Promise((resolve) => setTimeout(resolve, 5));
}
process.stdout.write(`${JSON.stringify(times)}\n`);
