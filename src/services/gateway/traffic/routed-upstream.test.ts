import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createRoutedUpstream } from "./routed-upstream.ts";
import type { TrafficRoute } from "./traffic.repository.ts";

// Real HTTP servers on ephemeral ports stand in for service processes; each answers with its own name.
async function service(name: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) => response.writeHead(200, { "content-type": "text/plain", "content-length": String(name.length) }).end(name));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const policy = { connectTimeoutMs: 500, headersTimeoutMs: 1_000, totalTimeoutMs: 2_000, breaker: { windowMs: 10_000, minimumRequests: 5, failureRatio: 0.5, openMs: 60_000 } };
const events = () => ({ error: () => undefined, retry: () => undefined, breakerState: () => undefined });
const request = { method: "POST", path: "/x", headers: {}, body: undefined, forwardedFor: "127.0.0.1", requestId: "r" };
const route = (change: Partial<TrafficRoute>): TrafficRoute => ({ upstream: "users", blue: [], green: [], active: "blue", canaryWeight: 0, revision: 1, changedAt: "", ...change });

describe("routed upstream", () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const server of servers.splice(0)) server.close();
  });

  it("sends exactly the canary weight to the other colour, spread evenly", async () => {
    const [blue, green] = [await service("blue"), await service("green")];
    servers.push(blue.server, green.server);
    const upstream = createRoutedUpstream({ name: "users", origin: blue.url, policy, events, route: () => route({ blue: [blue.url], green: [green.url], canaryWeight: 10 }) });
    const seen: string[] = [];
    for (let n = 0; n < 200; n++) seen.push(String((await upstream.forward(request)).body));
    expect(seen.filter((name) => name === "green")).toHaveLength(20);
    // Never two canary requests in a row at 10 %: the share is a stride, not a draw.
    expect(seen.join(",")).not.toContain("green,green");
    await upstream.close();
  });

  it("keeps one breaker per target: a dead green opens its own breaker, blue's stays closed and keeps answering", async () => {
    const [blue, green] = [await service("blue"), await service("green")];
    servers.push(blue.server);
    green.server.close();
    const upstream = createRoutedUpstream({ name: "users", origin: blue.url, policy, events, route: () => route({ blue: [blue.url], green: [green.url], canaryWeight: 50 }) });
    const outcomes: string[] = [];
    for (let n = 0; n < 40; n++) outcomes.push(await upstream.forward(request).then((response) => String(response.body), (error: { code?: string }) => error.code ?? "error"));
    expect(outcomes.filter((outcome) => outcome === "blue")).toHaveLength(20);
    const breakers = Object.fromEntries(upstream.breakers().map((breaker) => [breaker.name, breaker.state]));
    expect(breakers).toEqual({ "users.blue.1": "closed", "users.green.1": "open" });
    // Once open, green's share is refused at once, never sent: blue's answers are unaffected.
    expect(outcomes.slice(-10).filter((outcome) => outcome !== "blue").every((outcome) => outcome === "upstream_unavailable")).toBe(true);
    await upstream.close();
  });

  it("skips a target whose breaker is open while another of the same colour answers", async () => {
    const [first, second] = [await service("first"), await service("second")];
    servers.push(second.server);
    first.server.close();
    const upstream = createRoutedUpstream({ name: "users", origin: second.url, policy, events, route: () => route({ blue: [first.url, second.url] }) });
    const outcomes: string[] = [];
    for (let n = 0; n < 30; n++) outcomes.push(await upstream.forward(request).then((response) => String(response.body), () => "failed"));
    // Failures only until the dead target's breaker opened; from then on every request reaches the live one.
    expect(outcomes.slice(-10)).toEqual(Array(10).fill("second"));
    await upstream.close();
  });

  it("uses the configured URL, under the upstream's own breaker name, while no route exists", async () => {
    const configured = await service("configured");
    servers.push(configured.server);
    const upstream = createRoutedUpstream({ name: "users", origin: configured.url, policy, events, route: () => undefined });
    expect(String((await upstream.forward(request)).body)).toBe("configured");
    expect(upstream.breakers().map((breaker) => breaker.name)).toEqual(["users"]);
    await upstream.close();
  });
});
