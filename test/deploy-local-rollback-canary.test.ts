// `azora rollback` on the local target while the routes hold a canary share: a deploy that died in its canary
// steps (its lock then removed, as the refusal says), or an operator's `azora traffic weight`. The live colour is
// still the stable one: the rollback takes the share away and leaves every request there. It must never switch
// everything to the canary's colour, the version being rolled back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends, queryOnce } from "./helpers/backends.ts";
import { runCli } from "./helpers/cli.ts";
import { splitModeEnv } from "./helpers/platform.ts";

const postgres = backends().find((backend) => backend.name === "postgres+redis");

describe.runIf(postgres)("azora rollback on the local target with a canary share on the routes", () => {
  let env: Record<string, string>;
  let dispose: () => Promise<void> = async () => undefined;
  const query = (sql: string) => queryOnce(env.DATABASE_URL ?? "", sql);

  beforeAll(async () => {
    const provisioned = await postgres!.provision();
    dispose = provisioned.dispose;
    // Blue is the configured services; green the canary. The processes behind the URLs do not matter to the routes.
    env = await splitModeEnv(provisioned.env, "rollback-canary", { AZORA_DEPLOY_TARGET: "local", LOG_STDOUT: "false", AUTH_URL: "http://127.0.0.1:9", USERS_URL: "http://127.0.0.1:10" });
    expect((await runCli(["migrate"], env)).code).toBe(0);
    for (const [upstream, port] of [["users", 11], ["auth", 12]] as const) {
      expect((await runCli(["traffic", "targets", upstream, "--green", `http://127.0.0.1:${port}`], env)).code).toBe(0);
      expect((await runCli(["traffic", "weight", upstream, "25"], env)).code).toBe(0);
    }
  }, 300_000);
  afterAll(async () => dispose());

  it("takes the canary share away and keeps every request on the live colour, never switching to the canary", async () => {
    const planned = await runCli(["rollback", "staging", "Canary errors", "--dry-run"], env);
    expect(planned.code).toBe(0);
    expect(planned.stdout).toMatch(/Would roll back local staging .*: the canary share taken off blue's routes, all traffic on blue/);
    expect(await query("SELECT upstream, active, canary_weight FROM traffic_routes ORDER BY upstream")).toEqual([
      { upstream: "auth", active: "blue", canary_weight: 25 },
      { upstream: "users", active: "blue", canary_weight: 25 },
    ]);

    const back = await runCli(["rollback", "staging", "Canary errors"], env);
    expect(back.stderr).not.toMatch(/azora: |failed/);
    expect(back.code).toBe(0);
    expect(await query("SELECT upstream, active, canary_weight FROM traffic_routes ORDER BY upstream")).toEqual([
      { upstream: "auth", active: "blue", canary_weight: 0 },
      { upstream: "users", active: "blue", canary_weight: 0 },
    ]);
    expect(back.stdout).toMatch(/Rolled back local staging .* to the configured services .*: Canary errors/);
    const rows = await query("SELECT action, details FROM audit_log WHERE action LIKE 'deploy.%' ORDER BY seq");
    expect(rows).toEqual([expect.objectContaining({ action: "deploy.rollback", details: expect.objectContaining({ reason: "Canary errors" }) })]);
    const status = JSON.parse((await runCli(["deploy", "status", "--json"], env)).stdout);
    expect(status).toMatchObject({ live: "blue", rollbackTo: "green" });
  }, 300_000);
});
