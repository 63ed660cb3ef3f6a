import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditTailCommand } from "../../src/ops/audit.ts";
import { recordAudit } from "../../src/platform/audit/audit.service.ts";
import { closePlatform, openPlatform } from "../../src/platform/context.ts";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { dropRestoreLeftovers } from "../helpers/backup.ts";
import { azora } from "../helpers/in-process-cli.ts";
import { manualClock, startClockedPlatform } from "../helpers/security-platform.ts";
import type { TestPlatform } from "../helpers/platform.ts";

const SLOW = 300_000;

interface TailRow {
  seq: number;
  occurredAt: string;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

describe.each(backends())("the audit log on the $name backend", (backend) => {
  const clock = manualClock();
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  let cliEnv: Record<string, string>;
  const sql = (text: string, params: unknown[] = []) => platform.running.context.db.query(text, params);
  const tail = async (lines = 100): Promise<TailRow[]> => {
    const result = await azora(["audit", "tail", "--json", "-n", String(lines)], cliEnv);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as TailRow[];
  };
  const verify = async () => {
    const result = await azora(["audit", "verify", "--json"], cliEnv);
    return { code: result.code, report: JSON.parse(result.stdout) as { ok: boolean; rows: number; problems: { seq: number; kind: string; message: string }[] } };
  };

  beforeAll(async () => {
    platform = await startClockedPlatform(backend, clock);
    api = apiClient(platform.baseUrl);
    cliEnv = { DATA_DIR: platform.dataDir, ...(platform.config.database.url ? { DATABASE_URL: platform.config.database.url } : {}) };
  }, SLOW);
  afterAll(async () => {
    if (platform) await dropRestoreLeftovers(platform);
    await platform?.stop();
  }, SLOW);

  it("every admin action writes one row: promote, demote, maintenance on/off, an admin's change to another account", async () => {
    const admin = await api.newUser("audit-admin");
    const other = await api.newUser("audit-other");
    clock.advance(60_000);
    const at = clock.now();
    expect((await azora(["user", "promote", admin.email], cliEnv)).code).toBe(0);
    expect((await azora(["maintenance", "on", "--message", "upgrading"], cliEnv)).code).toBe(0);
    expect((await azora(["maintenance", "off"], cliEnv)).code).toBe(0);
    // The promotion reaches the services through the cache log; wait until the admin may change others.
    let patched = 0;
    for (let attempt = 0; attempt < 100 && patched !== 200; attempt++) {
      patched = (await api.call("PATCH", `/api/user/${other.id}`, { token: admin.accessToken, json: { name: "Renamed" } })).status;
      if (patched !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(patched).toBe(200);
    expect((await azora(["user", "demote", admin.email], cliEnv)).code).toBe(0);

    const rows = await tail();
    expect(rows.map((row) => row.action)).toEqual(["user.promote", "maintenance.on", "maintenance.off", "user.update", "user.demote"]);
    expect(rows[0]).toMatchObject({ seq: 1, target: `user:${admin.id}`, details: { role: "admin" } });
    expect(rows[3]).toMatchObject({ actor: `user:${admin.id}`, target: `user:${other.id}`, details: { fields: ["name"] } });
    // The CLI's operator; on the embedded default the command ran inside the platform, relayed by the ops port.
    expect(rows[0]!.actor).toMatch(backend.name === "embedded" ? /^cli:.+ via ops port$/ : /^cli:/);
    // Times come from the injected clock of the process that acted (the platform, for the admin's change).
    expect(Date.parse(rows[3]!.occurredAt)).toBeGreaterThanOrEqual(at);
    // Never an email (nor anything else that identifies a person in clear).
    expect(JSON.stringify(rows)).not.toMatch(/@example\.com/);
    expect((await verify()).code).toBe(0);
    // Human output names the head.
    expect((await azora(["audit", "verify"], cliEnv)).stdout).toMatch(/Audit log intact: 5 rows, head 5 /);
  }, SLOW);

  it("concurrent writers never fork the chain", async () => {
    // A second context on the same database: on PostgreSQL its own pool, so appends really race.
    const second = backend.name === "embedded" ? platform.running.context : await openPlatform(platform.config, { migrate: false, clock });
    try {
      const contexts = [platform.running.context, second];
      await Promise.all(Array.from({ length: 24 }, (_, index) => recordAudit(contexts[index % 2]!, { actor: "system", action: "test.concurrent", target: `n:${index}` })));
    } finally {
      if (second !== platform.running.context) await closePlatform(second);
    }
    const { code, report } = await verify();
    expect(report.problems).toEqual([]);
    expect(code).toBe(0);
    expect(report.rows).toBe(29);
  }, SLOW);

  it("refuses details that would put a secret or an email into the log for good", async () => {
    await expect(recordAudit(platform.running.context, { actor: "system", action: "test.secret", target: "x", details: { newPassword: "hunter2" } })).rejects.toThrow(/never go into the audit log/);
    await expect(recordAudit(platform.running.context, { actor: "system", action: "test.secret", target: "x", details: { nested: { email: "a@b.c" } } })).rejects.toThrow();
  });

  it("tail --follow prints rows as they are appended, until the caller goes", async () => {
    const seen: string[] = [];
    const stop = new AbortController();
    const following = auditTailCommand.run(platform.running.context, { lines: 1, follow: true, json: true, pollMs: 50 }, { out: (text) => seen.push(text), err: () => undefined, signal: stop.signal });
    try {
      await recordAudit(platform.running.context, { actor: "system", action: "test.follow", target: "followed" });
      for (let attempt = 0; attempt < 100 && !seen.some((line) => line.includes("test.follow")); attempt++) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      stop.abort();
    }
    expect(await following).toBe(0);
    expect(seen.length).toBe(2);
    expect(JSON.parse(seen[1]!)).toMatchObject({ action: "test.follow", target: "followed" });
  });

  it("verify fails and names a row edited with SQL", async () => {
    await sql("UPDATE audit_log SET target = 'user:someone-else' WHERE seq = 2");
    const { code, report } = await verify();
    expect(code).toBe(1);
    expect(report.problems).toEqual([expect.objectContaining({ seq: 2, kind: "edited" })]);
    const human = await azora(["audit", "verify"], cliEnv);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain("row 2 edited");
    await sql("UPDATE audit_log SET target = 'maintenance' WHERE seq = 2");
    expect((await verify()).code).toBe(0);
  }, SLOW);

  it("verify fails and names a row deleted with SQL, in the middle and at the end", async () => {
    const [saved] = await sql("SELECT * FROM audit_log WHERE seq = 3");
    await sql("DELETE FROM audit_log WHERE seq = 3");
    let result = await verify();
    expect(result.code).toBe(1);
    expect(result.report.problems[0]).toMatchObject({ seq: 3, kind: "deleted" });
    await restoreRow(saved);
    expect((await verify()).code).toBe(0);

    // The remaining chain is valid on its own: the anchor outside the database shows the loss.
    const [last] = await sql("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1");
    await sql("DELETE FROM audit_log WHERE seq = $1", [Number((last as { seq: string }).seq)]);
    result = await verify();
    expect(result.code).toBe(1);
    expect(result.report.problems[0]).toMatchObject({ kind: "deleted", seq: Number((last as { seq: string }).seq) });
    await restoreRow(last);
    expect((await verify()).code).toBe(0);
  }, SLOW);

  it("verify fails and names a row inserted with SQL", async () => {
    // A forged row squeezed in at seq 2: the rows from there on are renumbered to make room.
    // Two steps, out of the way first: seq is the primary key.
    await sql("UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= 2");
    await sql("UPDATE audit_log SET seq = seq - 1000000 + 1 WHERE seq > 1000000");
    await sql(
      "INSERT INTO audit_log (seq, occurred_at, actor, action, target, details, prev_hash, hash) SELECT 2, now(), 'cli:root', 'user.promote', 'user:intruder', '{}', hash, hash FROM audit_log WHERE seq = 1",
    );
    const { code, report } = await verify();
    expect(code).toBe(1);
    expect(report.problems[0]).toMatchObject({ seq: 2 });
    expect(report.problems.map((problem) => problem.message).join("\n")).toMatch(/row 2 (edited|does not follow)/);
    await sql("DELETE FROM audit_log WHERE seq = 2");
    await sql("UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= 3");
    await sql("UPDATE audit_log SET seq = seq - 1000000 - 1 WHERE seq > 1000000");
    expect((await verify()).code).toBe(0);
  }, SLOW);

  it("GDPR erasure writes a row naming the pseudonym, and leaves the chain whole", async () => {
    const person = await api.newUser("audit-erased");
    const erased = await azora(["gdpr", "delete", person.email, "--yes"], cliEnv);
    expect(erased.code, erased.stderr).toBe(0);
    const [row] = (await tail(1)).slice(-1);
    expect(row).toMatchObject({ action: "gdpr.erase", target: expect.stringMatching(/^subject:erased-[0-9a-f]+$/) });
    expect(JSON.stringify(row)).not.toContain(person.id);
    expect((await verify()).code).toBe(0);
  }, SLOW);

  it("a restore brings back the backup's chain and writes a row naming the head it replaced", async () => {
    const backup = await azora(["backup", "full"], cliEnv);
    expect(backup.code, backup.stderr).toBe(0);
    const lost = await recordAudit(platform.running.context, { actor: "system", action: "test.after-backup", target: "lost" });
    const restored = await azora(["restore", "latest", "--yes"], cliEnv);
    expect(restored.code, restored.stderr).toBe(0);
    const rows = await tail(2);
    expect(rows.map((row) => row.action)).not.toContain("test.after-backup");
    expect(rows.at(-1)).toMatchObject({ seq: lost.seq, action: "backup.restore", target: "database", details: { replacedChainHead: { seq: lost.seq, hash: lost.hash } } });
    const { code, report } = await verify();
    expect(report.problems).toEqual([]);
    expect(code).toBe(0);
  }, SLOW);

  async function restoreRow(row: unknown): Promise<void> {
    const saved = row as { seq: string; occurred_at: Date; actor: string; action: string; target: string; details: unknown; prev_hash: string; hash: string };
    await sql("INSERT INTO audit_log (seq, occurred_at, actor, action, target, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)", [
      Number(saved.seq),
      saved.occurred_at.toISOString(),
      saved.actor,
      saved.action,
      saved.target,
      JSON.stringify(saved.details),
      saved.prev_hash,
      saved.hash,
    ]);
  }
});
