import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { request as httpRequest } from "undici";
import { z } from "zod";
import type { PlatformCommand } from "../../platform/command.ts";
import { effectiveSettings, type Config } from "../../platform/config.ts";
import { liveHolder } from "../../platform/data-lock.ts";
import { loadOrCreateSecret } from "../../platform/secrets.ts";
import { loadIncident, unknownIncident } from "./incident-commands.ts";
import { cutLogs, type TimeWindow } from "./log-window.ts";
import { secretRedactor } from "./redact.ts";
import { tarGz, type TarEntry } from "./tar.ts";
import { auditRowsIn, auditTime, isDeployAction } from "./window-events.ts";

const args = z.object({
  id: z.string(),
  out: z.string().min(1),
  since: z.string().datetime().optional(),
  until: z.string().datetime().optional(),
  opsUrl: z.string().url().optional(),
  json: z.boolean().default(false),
});

const run = promisify(execFile);
const checkout = fileURLToPath(new URL("../../../", import.meta.url));

/** The ops listener to read metrics, health and breakers from: the given one, the embedded holder's, or the configured one. */
async function opsBaseUrl(config: Config, given: string | undefined): Promise<string> {
  if (given) return given.replace(/\/$/, "");
  const holder = config.database.url ? undefined : await liveHolder(config.paths.state);
  if (holder?.opsPort) return `http://${holder.opsHost}:${holder.opsPort}`;
  const host = config.ops.host === "0.0.0.0" ? "127.0.0.1" : config.ops.host;
  return `http://${host}:${config.ops.port}`;
}

/** GET with the ops token; the body, or why there is none (a platform that is down is part of the story). */
async function opsGet(url: string, token: string): Promise<{ ok: true; body: string } | { ok: false; reason: string }> {
  try {
    const response = await httpRequest(url, { headers: { authorization: `Bearer ${token}` }, headersTimeout: 5_000, bodyTimeout: 5_000 });
    const body = await response.body.text();
    return response.statusCode < 500 || url.endsWith("/health") ? { ok: true, body } : { ok: false, reason: `HTTP ${response.statusCode}` };
  } catch (error) {
    return { ok: false, reason: (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error)) };
  }
}

/** `git log --oneline -10` of the checkout this runs from, when it is one. */
async function gitLog(): Promise<string | undefined> {
  if (!existsSync(`${checkout}.git`)) return undefined;
  try {
    return (await run("git", ["log", "--oneline", "-10"], { cwd: checkout, timeout: 10_000 })).stdout;
  } catch {
    return undefined;
  }
}

/**
 * `azora incident collect-logs ID`: one tar.gz for the incident's window (declaration minus 1 h to now by
 * default) with a manifest of sha256 checksums. Every file passes through the redactor before it is packed.
 */
export const incidentCollectLogsCommand: PlatformCommand<z.input<typeof args>> = {
  name: "incident collect-logs",
  async run(context, rawArgs, io) {
    const parsed = args.safeParse(rawArgs);
    if (!parsed.success) {
      io.err("Usage: azora incident collect-logs incident-2025-001 [--since ISO|2h] [--until ISO|30m] [--out file.tar.gz] [--ops-url URL].");
      return 2;
    }
    const request = parsed.data;
    const { config } = context;
    const incident = await loadIncident(context.db, request.id);
    if (!incident) {
      io.err(unknownIncident(request.id));
      return 1;
    }
    const now = new Date(context.clock.now());
    const window: TimeWindow = {
      since: request.since ? new Date(request.since) : new Date(Date.parse(incident.startedAt) - 3_600_000),
      until: request.until ? new Date(request.until) : now,
    };
    const range = `${window.since.toISOString()} – ${window.until.toISOString()}`;
    const cuts = await cutLogs(config.paths.logs, window);
    if (cuts.every((cut) => cut.lines.length === 0)) {
      io.err(`No log lines between ${range} in ${config.paths.logs}: nothing to collect. Widen the window with --since/--until, or point LOG_DIR at the platform's logs.`);
      return 1;
    }
    const redact = await secretRedactor(config, process.env);
    const entries: TarEntry[] = [];
    const notes: string[] = [];
    const add = (name: string, text: string) => entries.push({ name: `${incident.reference}/${name}`, content: Buffer.from(redact(text)) });

    add("incident.json", `${JSON.stringify(incident, null, 2)}\n`);
    for (const cut of cuts) if (cut.lines.length > 0) add(`logs/${cut.stream}.log`, `${cut.lines.join("\n")}\n`);

    const ops = await opsBaseUrl(config, request.opsUrl);
    const token = await loadOrCreateSecret(config.paths.secrets, "ops-token", config.ops.token);
    const [metrics, health] = await Promise.all([opsGet(`${ops}/metrics`, token), opsGet(`${ops}/health`, token)]);
    if (metrics.ok) {
      add("metrics.prom", metrics.body);
      const breakers = metrics.body.split("\n").filter((line) => line.startsWith("azora_circuit_breaker_state"));
      add("breakers.txt", `# azora_circuit_breaker_state: 0 closed, 1 half-open, 2 open\n${breakers.join("\n")}\n`);
    } else notes.push(`metrics and breakers: ${ops}/metrics did not answer (${metrics.reason})`);
    if (health.ok) add("health.json", `${health.body}\n`);
    else notes.push(`health: ${ops}/health did not answer (${health.reason})`);

    const audit = await auditRowsIn(context.db, window);
    add("audit.jsonl", audit.map((row) => JSON.stringify({ at: auditTime(row), ...row })).join("\n") + (audit.length > 0 ? "\n" : ""));
    const deploys = audit.filter((row) => isDeployAction(row.action));
    if (deploys.length > 0) add("deploys.json", `${JSON.stringify(deploys.map((row) => ({ at: auditTime(row), action: row.action, actor: row.actor, target: row.target, details: row.details })), null, 2)}\n`);
    else notes.push("deploys: no deploy or rollback is recorded in the audit log for the window");

    add("config.txt", effectiveSettings(process.env).map((setting) => `${setting.name}=${setting.value}${setting.source === "default" ? "   # default" : ""}`).join("\n") + "\n");
    const git = await gitLog();
    if (git !== undefined) add("git-log.txt", git);
    else notes.push("git log: the platform does not run from a git checkout");

    const files = entries.map((entry) => ({ path: entry.name, bytes: entry.content.length, sha256: createHash("sha256").update(entry.content).digest("hex") }));
    const manifest = {
      incident: incident.reference,
      window: { since: window.since.toISOString(), until: window.until.toISOString() },
      generatedAt: now.toISOString(),
      logLines: Object.fromEntries(cuts.map((cut) => [cut.stream, cut.lines.length])),
      files,
      notes,
    };
    add("manifest.json", `${JSON.stringify(manifest, null, 2)}\n`);
    // sha256sum -c reads this from inside the incident directory.
    const sums = entries.map((entry) => `${createHash("sha256").update(entry.content).digest("hex")}  ${entry.name.slice(`${incident.reference}/`.length)}`);
    add("SHA256SUMS", `${sums.join("\n")}\n`);

    const archive = tarGz(entries, now.getTime());
    await mkdir(dirname(request.out), { recursive: true });
    // 0600: cut logs still name users and addresses, even with every secret taken out.
    await writeFile(request.out, archive, { mode: 0o600 });
    if (request.json) io.out(JSON.stringify({ archive: request.out, bytes: archive.length, ...manifest }));
    else {
      io.out(`Wrote ${request.out} (${entries.length} files, ${archive.length} bytes) for ${incident.reference}, window ${range}.`);
      io.out(`Log lines: ${cuts.map((cut) => `${cut.stream} ${cut.lines.length}`).join(", ")}; audit rows ${audit.length}; deploys ${deploys.length}.`);
      for (const note of notes) io.out(`Not included: ${note}.`);
      io.out(`Check it with: tar -xzf ${request.out} && (cd ${incident.reference} && sha256sum -c SHA256SUMS)`);
    }
    return 0;
  },
};
