import { Agent, request } from "undici";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, metricValue } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { runCli, spawnCli, type RunningCli } from "./helpers/cli.ts";
import { eventually } from "./helpers/free-port.ts";
import { splitModeEnv } from "./helpers/platform.ts";

// Release traffic between two real users-service processes (blue and green) behind two real gateway processes.
const postgres = backends().find((backend) => backend.name === "postgres+redis");
const SLOW = 240_000;
const OPS_TOKEN = "traffic-test-ops-token-0123456789abcdef";

interface Served {
  url: string;
  ops: string;
  run: RunningCli;
}

describe.runIf(postgres)("traffic switching: blue and green target sets, canary weight, switch without loss", () => {
  const processes: RunningCli[] = [];
  let env: Record<string, string>;
  let dispose: () => Promise<void> = async () => undefined;
  let blue: Served;
  let green: Served;
  let gateways: Served[] = [];
  let path = "";
  let token = "";
  const agent = new Agent({ connections: 32, keepAliveTimeout: 10_000 });

  const serve = async (service: string, extra: Record<string, string>): Promise<Served> => {
    const run = spawnCli(["serve", service], { ...env, ...extra });
    processes.push(run);
    const [, url = ""] = await run.waitFor(/(?:API|Auth|Users):\s+(http:\/\/\S+)/);
    const [, ops = ""] = await run.waitFor(/Ops:\s+(http:\/\/\S+)/);
    return { url, ops, run };
  };
  const cli = (args: string[]) => runCli(args, env);
  /** Requests the users process answered for the route the test calls, from its own /metrics. */
  const answered = async (served: Served) => {
    const text = await (await fetch(new URL("/metrics", served.ops), { headers: { authorization: `Bearer ${OPS_TOKEN}` } })).text();
    return metricValue(text, "http_requests_total", { route: "/api/user/:id" });
  };
  const followedRevision = async (gateway: Served): Promise<number | null> => {
    const response = await fetch(new URL("/debug/traffic", gateway.ops), { headers: { authorization: `Bearer ${OPS_TOKEN}` } });
    const body = (await response.json()) as { upstreams: { upstream: string; route: { revision: number } | null }[] };
    return body.upstreams.find((each) => each.upstream === "users")?.route?.revision ?? null;
  };
  /** Waits until every gateway process follows the route at `revision`. */
  const allFollow = (revision: number) =>
    eventually(async () => ((await Promise.all(gateways.map(followedRevision))).every((seen) => seen === revision) ? true : undefined), `every gateway to follow revision ${revision}`);
  const get = async (gateway: Served) => {
    const response = await request(new URL(path, gateway.url), { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
    await response.body.dump();
    return response.statusCode;
  };
  /** Keeps `workers` requests in flight, spread over every gateway, until stopped; counts every outcome. */
  const loop = (workers: number) => {
    let running = true;
    const outcomes = new Map<string, number>();
    const note = (outcome: string) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    const done = Promise.all(
      Array.from({ length: workers }, async (_, worker) => {
        for (let n = 0; running; n++) {
          try {
            note(String(await get(gateways[(worker + n) % gateways.length]!)));
          } catch (error) {
            note(`error ${(error as Error).message}`);
          }
        }
      }),
    );
    return {
      total: () => [...outcomes.values()].reduce((sum, count) => sum + count, 0),
      async stop() {
        running = false;
        await done;
        return Object.fromEntries(outcomes);
      },
    };
  };

  beforeAll(async () => {
    const provisioned = await postgres!.provision();
    dispose = provisioned.dispose;
    env = await splitModeEnv(provisioned.env, "traffic", { RATE_LIMIT_READ: "10000000", TRAFFIC_POLL_MS: "100" });
    expect((await cli(["migrate"])).code).toBe(0);
    const auth = await serve("auth", {});
    env.AUTH_URL = auth.url;
    blue = await serve("users", {});
    green = await serve("users", {});
    env.USERS_URL = blue.url;
    gateways = [await serve("gateway", {}), await serve("gateway", {})];
    const api = apiClient(gateways[0]!.url);
    const user = await api.newUser("traffic");
    token = user.accessToken;
    path = `/api/user/${user.id}`;
  }, SLOW);
  afterAll(async () => {
    await agent.close();
    for (const run of processes) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    await dispose();
  });

  it("refuses bad input with a message and changes nothing", async () => {
    const noGreen = await cli(["traffic", "switch", "users"]);
    expect(noGreen.code).toBe(1);
    expect(noGreen.stderr).toContain("has no green targets");
    const weight = await cli(["traffic", "weight", "users", "150"]);
    expect(weight.code).toBe(2);
    expect(weight.stderr).toContain("whole percent from 0 to 100");
    const badUrl = await cli(["traffic", "targets", "users", "--green", "http://user:pw@example.com:1/x"]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).not.toContain("pw@");
    const unknown = await cli(["traffic", "switch", "billing"]);
    expect(unknown.code).not.toBe(0);
    const status = await cli(["traffic", "status", "--json"]);
    expect(JSON.parse(status.stdout)).toEqual({ auth: null, users: null });
  }, SLOW);

  it("sets the green targets (dry run first), and every gateway follows", async () => {
    const dry = await cli(["traffic", "targets", "users", "--green", green.url, "--dry-run", "--json"]);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout).after).toMatchObject({ blue: [blue.url], green: [green.url], active: "blue" });
    expect(JSON.parse((await cli(["traffic", "status", "--json"])).stdout).users).toBeNull();
    const set = await cli(["traffic", "targets", "users", "--green", green.url, "--json"]);
    expect(set.code).toBe(0);
    const route = JSON.parse(set.stdout);
    expect(route).toMatchObject({ upstream: "users", blue: [blue.url], green: [green.url], active: "blue", canaryWeight: 0 });
    await allFollow(route.revision);
  }, SLOW);

  it("canary weight 10 sends 10 % ± 2 % of 10,000 requests to green", async () => {
    const set = await cli(["traffic", "weight", "users", "10", "--json"]);
    expect(set.code).toBe(0);
    await allFollow(JSON.parse(set.stdout).revision);
    const [blueBefore, greenBefore] = [await answered(blue), await answered(green)];
    const statuses = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 10_000) {
          const n = next++;
          const status = await get(gateways[n % gateways.length]!);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      }),
    );
    expect(Object.fromEntries(statuses)).toEqual({ 200: 10_000 });
    const toBlue = (await answered(blue)) - blueBefore;
    const toGreen = (await answered(green)) - greenBefore;
    console.log(`canary weight 10: ${toGreen} of 10,000 requests answered by green, ${toBlue} by blue`);
    expect(toBlue + toGreen).toBe(10_000);
    expect(toGreen / 10_000).toBeGreaterThanOrEqual(0.08);
    expect(toGreen / 10_000).toBeLessThanOrEqual(0.12);
    // The gateways count the same split per colour, for canary analysis.
    const gatewayGreen = await Promise.all(
      gateways.map(async (gateway) => metricValue(await (await fetch(new URL("/metrics", gateway.ops), { headers: { authorization: `Bearer ${OPS_TOKEN}` } })).text(), "azora_upstream_requests_total", { upstream: "users", colour: "green" })),
    );
    expect(gatewayGreen.reduce((sum, value) => sum + value, 0)).toBe(toGreen);
  }, SLOW);

  it("switches blue → green under a continuous request loop without losing a request, and back through the ops port", async () => {
    const traffic = loop(8);
    await eventually(async () => (traffic.total() > 200 ? true : undefined), "the loop to run");
    const switched = await cli(["traffic", "switch", "users", "--json"]);
    expect(switched.code).toBe(0);
    const route = JSON.parse(switched.stdout);
    expect(route).toMatchObject({ active: "green", canaryWeight: 0 });
    await allFollow(route.revision);
    const blueAfterSwitch = await answered(blue);
    const greenAfterSwitch = await answered(green);
    const mark = traffic.total();
    await eventually(async () => (traffic.total() > mark + 500 ? true : undefined), "traffic after the switch");
    // Once every gateway follows, blue gets nothing more and green gets it all.
    expect(await answered(blue)).toBe(blueAfterSwitch);
    expect(await answered(green)).toBeGreaterThan(greenAfterSwitch + 400);

    // Back to blue through the ops port of one gateway, with the ops token: the same command, run there.
    const response = await fetch(new URL("/ops/commands", gateways[1]!.ops), {
      method: "POST",
      headers: { authorization: `Bearer ${OPS_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "traffic", args: { action: "switch", upstream: "users", to: "blue", json: true } }),
    });
    expect(response.status).toBe(200);
    const frames = (await response.text()).trim().split("\n").map((line) => JSON.parse(line));
    expect(frames.at(-1)).toEqual({ exitCode: 0 });
    const back = JSON.parse(frames.find((frame) => frame.stream === "out").text);
    expect(back).toMatchObject({ active: "blue", revision: route.revision + 1 });
    await allFollow(back.revision);
    const beyond = traffic.total();
    await eventually(async () => (traffic.total() > beyond + 300 ? true : undefined), "traffic after the switch back");
    const outcomes = await traffic.stop();
    console.log(`two switches under a loop of 8: ${JSON.stringify(outcomes)}`);
    expect(outcomes).toEqual({ 200: traffic.total() });
    expect(traffic.total()).toBeGreaterThan(1_000);
  }, SLOW);

  it("keeps the route across a gateway restart and records every change in the audit log", async () => {
    const [first] = gateways.splice(0, 1);
    first!.run.child.kill("SIGTERM");
    expect(await first!.run.exited).toEqual({ code: 0, signal: null });
    const restarted = await serve("gateway", {});
    gateways.push(restarted);
    const body = (await (await fetch(new URL("/debug/traffic", restarted.ops), { headers: { authorization: `Bearer ${OPS_TOKEN}` } })).json()) as {
      splitMode: boolean;
      upstreams: { upstream: string; route: { active: string; green: string[] } | null }[];
    };
    expect(body.splitMode).toBe(true);
    expect(body.upstreams.find((each) => each.upstream === "users")?.route).toMatchObject({ active: "blue", green: [green.url] });
    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT actor, action, target, details FROM audit_log WHERE action LIKE 'traffic.%' ORDER BY seq");
      expect(rows.map((row) => row.action)).toEqual(["traffic.targets", "traffic.weight", "traffic.switch", "traffic.switch"]);
      expect(rows.every((row) => row.target === "upstream:users")).toBe(true);
      expect(rows[2].actor).toMatch(/^cli:/);
      expect(rows[3].actor).toMatch(/^ops-port/);
      expect(rows[2].details).toMatchObject({ before: { active: "blue", canaryWeight: 10 }, after: { active: "green", canaryWeight: 0 } });
    } finally {
      await client.end();
    }
  }, SLOW);
});
