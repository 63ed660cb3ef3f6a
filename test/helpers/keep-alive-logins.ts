import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";

/** What happened to each keep-alive client when the platform stopped under it. */
export interface DrainOutcomes {
  /** Stopped at an answer carrying `Connection: close`: the drain let it go cleanly. */
  closed: number;
  /** ECONNREFUSED: a new connection tried after the listener closed, never accepted, nothing lost. */
  refused: number;
  /** ECONNRESET or a hang-up: a request that was sent and lost. The drain must make this zero. */
  reset: number;
}

/**
 * Keeps `clients` keep-alive connections logging in again and again (logins are the slowest answers:
 * argon2 and a database write), calls `stop` once every client has been answered at least once (so each
 * connection is in reuse), and counts how each client ended.
 */
export async function keepAliveLoginsThrough(baseUrl: string, clients: number, stop: () => void): Promise<DrainOutcomes> {
  const email = `drain-${randomBytes(4).toString("hex")}@example.com`;
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const registered = await fetch(new URL("/api/auth/register", baseUrl), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password }) });
  if (registered.status !== 202) throw new Error(`register answered ${registered.status}`);
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const url = new URL("/api/auth/login", baseUrl);
  const body = JSON.stringify({ email, password });
  let answered = 0;
  const outcomes: DrainOutcomes = { closed: 0, refused: 0, reset: 0 };
  const login = () =>
    new Promise<string | undefined>((resolve, reject) => {
      const call = request(url, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (response) => {
        response.resume();
        response.on("end", () => {
          answered++;
          resolve(response.headers.connection);
        });
        response.on("error", reject);
      });
      call.on("error", reject);
      call.end(body);
    });
  const client = async () => {
    for (;;) {
      try {
        if ((await login()) === "close") return void outcomes.closed++;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ECONNREFUSED") outcomes.refused++;
        else outcomes.reset++;
        return;
      }
    }
  };
  const running = Array.from({ length: clients }, client);
  while (answered < clients) await new Promise((resolve) => setTimeout(resolve, 50));
  stop();
  await Promise.all(running);
  agent.destroy();
  return outcomes;
}
