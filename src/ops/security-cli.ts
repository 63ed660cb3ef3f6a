import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { CommandIO } from "../platform/command.ts";
import { parseTimeArgument } from "../services/security/log-reader.ts";
import type { Config } from "../platform/config.ts";
import type { SecurityPolicy } from "../services/security/policy.ts";
import type { CliHooks } from "./backup-cli.ts";

interface WindowOptions {
  since?: string;
  until?: string;
  logDir?: string;
  policy?: string;
  json: boolean;
  events: boolean;
}

/** `azora security …`: the operations guide's security scripts. */
export function registerSecurityCommands(program: Command, hooks: Pick<CliHooks, "io" | "withConfig" | "platform"> & { setExitCode(code: number): void }): void {
  const { io, withConfig } = hooks;
  const security = program.command("security").description("Security operations: the deployment's audit, anomaly detection in the platform's own logs, forensics, probes, and the security policy.");

  security
    .command("anomalies")
    .description(
      "Read auth.log and api.log (rotated and .gz files too) over a window and report failed-login bursts per IP and per account, " +
        "password spraying, credential stuffing, impossible travel, rate-limit violators and refresh-token reuse; each finding is also " +
        "written to security.log as SUSPICIOUS_ACTIVITY. Exit 0: nothing found, 1: findings, 2: bad input.",
    )
    .option("--since <time>", "start of the window: ISO-8601 or a duration before now (24h, 30m, 7d)", "24h")
    .option("--until <time>", "end of the window: ISO-8601 or a duration before now (default: now)")
    .option("--log-dir <dir>", "directory of the log files (default: LOG_DIR, i.e. DATA_DIR/logs)")
    .option("--policy <file>", "security policy file with the thresholds (default: the policy in force, as azora security policies show prints it)")
    .option("--no-events", "do not write SUSPICIOUS_ACTIVITY lines to security.log")
    .option("--follow", "after the report, keep reading new lines and report each new finding (JSON: one finding per line)", false)
    .option("--json", "print the report as one JSON document", false)
    .action((options: WindowOptions & { follow: boolean }) =>
      withConfig(async (config) => {
        const input = await windowInput(options, config, io);
        if (!input) return 2;
        const stopped = new Promise<void>((resolve) => {
          process.once("SIGINT", () => resolve());
          process.once("SIGTERM", () => resolve());
        });
        return (await import("./security-anomalies.ts")).runAnomalies({ ...input, json: options.json, events: options.events, follow: options.follow, stopped }, io);
      })(),
    );

  security
    .command("leak-detect")
    .description(
      "Read api.log and security.log and report users and access tokens whose reads in the window are far above the user's own daily " +
        "baseline (the days before the window), bursts of GDPR exports, and id probing answered 403/404; each finding is also written to " +
        "security.log as SUSPICIOUS_ACTIVITY. Exit 0: nothing found, 1: findings, 2: bad input.",
    )
    .option("--since <time>", "start of the window: ISO-8601 or a duration before now (24h, 30m, 7d)", "24h")
    .option("--until <time>", "end of the window: ISO-8601 or a duration before now (default: now)")
    .option("--log-dir <dir>", "directory of the log files (default: LOG_DIR, i.e. DATA_DIR/logs)")
    .option("--policy <file>", "security policy file with the thresholds (default: the policy in force, as azora security policies show prints it)")
    .option("--no-events", "do not write SUSPICIOUS_ACTIVITY lines to security.log")
    .option("--json", "print the report as one JSON document", false)
    .action((options: WindowOptions) =>
      withConfig(async (config) => {
        const input = await windowInput(options, config, io);
        if (!input) return 2;
        return (await import("./security-leaks.ts")).runLeakDetection({ ...input, json: options.json, events: options.events }, io);
      })(),
    );

  security
    .command("access-monitor")
    .description(
      "Report administrative access from the logs: use of the ops token and by each admin, new admin grants, disabled accounts that try " +
        "to log in, admin access outside business hours, and admin logins from networks not seen for that admin before. Admins are those " +
        "granted the role in the logs read, those holding it in the database, plus --admin. Exit 0: nothing unusual, 1: findings, 2: bad input.",
    )
    .option("--since <time>", "start of the window: ISO-8601 or a duration before now (24h, 30m, 7d)", "24h")
    .option("--until <time>", "end of the window: ISO-8601 or a duration before now (default: now)")
    .option("--admin <userId>", "a user id to treat as an admin (repeatable)", (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option("--log-dir <dir>", "directory of the log files (default: LOG_DIR, i.e. DATA_DIR/logs)")
    .option("--policy <file>", "security policy file with the thresholds (default: the policy in force, as azora security policies show prints it)")
    .option("--no-events", "do not write SUSPICIOUS_ACTIVITY lines to security.log")
    .option("--json", "print the report as one JSON document", false)
    .action((options: WindowOptions & { admin: string[] }) =>
      withConfig(async (config) => {
        const input = await windowInput(options, config, io);
        if (!input) return 2;
        const admins = [...new Set([...options.admin, ...(await (await import("./security-admins.ts")).adminsInForce(config, io))])];
        return (await import("./security-access.ts")).runAccessMonitor({ ...input, admins, json: options.json, events: options.events }, io);
      })(),
    );

  security
    .command("audit")
    .description(
      "Check this deployment: weak or placeholder secrets, the ops port beyond loopback without a NetworkPolicy, TRUSTED_PROXIES, " +
        "HSTS and the response security headers (probed live), file modes and age of DATA_DIR/secrets, signing-key age, admin count and " +
        "idle admins, npm audit --omit=dev, and the Kubernetes overlays' securityContext. Each finding has a severity, evidence and the fix; " +
        "a check that cannot run is reported as not checked. Exit 0: no high finding, 1: high findings, 2: bad input.",
    )
    .option("--url <url>", "the gateway to probe (default: the platform's own public port on 127.0.0.1)")
    .option("--skip-npm-audit", "do not run npm audit (it needs the registry); reported as not checked", false)
    .option("--skip-kubernetes", "do not render the Kubernetes overlays; reported as not checked", false)
    .option("--kubernetes-dir <dir>", "the Kubernetes manifests (base/ and overlays/) to check (default: the shipped deployment/kubernetes)")
    .option("--json", "print the report as one JSON document", false)
    .action(async (options: { url?: string; skipNpmAudit: boolean; skipKubernetes: boolean; kubernetesDir?: string; json: boolean }) =>
      hooks.platform((await import("./security-audit.ts")).securityAuditCommand, {
        ...(options.url ? { url: options.url } : {}),
        ...(options.kubernetesDir ? { kubernetesDir: resolve(options.kubernetesDir) } : {}),
        skipNpmAudit: options.skipNpmAudit,
        skipKubernetes: options.skipKubernetes,
        json: options.json,
      }),
    );

  security
    .command("forensics <id>")
    .description(
      "For an incident's window (the incidents table: from its start minus 1 h to its resolution or now; or --since/--until), " +
        "the timeline per account and per IP of logins, token use and reuse, reads and writes, exports, admin actions and rate-limit hits; " +
        "the audit rows of the window with the hash chain verified; the affected accounts; and an evidence bundle (raw log lines, rows, " +
        "report) with SHA-256 checksums. Recorded in the audit log. Exit 0: done, 2: bad input or unknown incident without a window.",
    )
    .option("--since <time>", "start of the window: ISO-8601 or a duration before now (24h, 30m, 7d); needed when the incident is not in the table")
    .option("--until <time>", "end of the window: ISO-8601 or a duration before now")
    .option("--out <dir>", "where to write the evidence bundle (a new or empty directory; default ./forensics-ID-TIME)")
    .option("--log-dir <dir>", "directory of the log files (default: LOG_DIR, i.e. DATA_DIR/logs)")
    .option("--json", "print the summary as one JSON document", false)
    .action(async (id: string, options: { since?: string; until?: string; out?: string; logDir?: string; json: boolean }) => {
      const now = Date.now();
      const problems: string[] = [];
      const time = (name: string, value: string | undefined) => {
        if (value === undefined) return undefined;
        const parsed = parseTimeArgument(value, now);
        if (parsed === undefined) problems.push(`${name} "${value}" is neither an ISO-8601 time nor a duration like 24h`);
        return parsed;
      };
      const since = time("--since", options.since);
      const until = options.until === undefined && options.since !== undefined ? now : time("--until", options.until);
      if (!/^[\w.:-]{1,100}$/.test(id)) problems.push(`incident id "${id}": use letters, digits, dots, colons and dashes (at most 100)`);
      if (problems.length > 0) {
        for (const problem of problems) io.err(problem);
        hooks.setExitCode(2);
        return;
      }
      const stamp = new Date(now).toISOString().replace(/[-:]/g, "").slice(0, 15);
      await hooks.platform((await import("./security-forensics.ts")).securityForensicsCommand, {
        id,
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
        out: resolve(options.out ?? `forensics-${id}-${stamp}`),
        ...(options.logDir ? { logDir: resolve(options.logDir) } : {}),
        json: options.json,
      });
    });

  security
    .command("pentest [url]")
    .description(
      "Safe probes against a running platform's public port: security headers, ops endpoints on the public port, header injection, " +
        "oversized bodies, user enumeration (status, body, timing), JWT forgery (alg none, HS256 with the public key, changed, expired " +
        "and wrong-audience claims), SQL-injection strings, refresh-token reuse, brute force and lockout bypass (path variants, " +
        "X-Forwarded-For rotation), and the auth rate limit (run last: it spends this client's auth budget for one window). Creates a few " +
        "pentest-…@example.com accounts. Refuses a non-loopback target without --i-own-this-host. Exit 0: all passed, 1: a probe failed, 2: bad input.",
    )
    .option("--i-own-this-host", "allow a target other than loopback", false)
    .option("--skip <probe>", "leave a probe out (repeatable)", (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option("--json", "print the report as one JSON document", false)
    .action((url: string | undefined, options: { iOwnThisHost: boolean; skip: string[]; json: boolean }) =>
      withConfig(async (config) =>
        // Without a URL: this machine's platform, on the public port the configuration names (PORT, default 8080).
        (await import("./security-pentest.ts")).runPentest({ url: url ?? `http://127.0.0.1:${config.gateway.port}`, ownHost: options.iOwnThisHost, skip: options.skip, json: options.json }, io),
      )(),
    );

  const policies = security.command("policies").description("The security policy in force (thresholds in one versioned YAML document, stored in the database).");
  policies
    .command("show")
    .description("Print the policy in force: the stored one, or the shipped defaults when none was stored.")
    .option("--json", "print it as JSON", false)
    .action(async (options: { json: boolean }) => hooks.platform((await import("./security-policies.ts")).securityPoliciesCommand, { action: "show", json: options.json }));
  policies
    .command("update <file>")
    .description("Validate a policy file (every problem is listed, exit 2, nothing changes) and store it; processes that poll the policy follow without a restart.")
    .option("--dry-run", "only validate", false)
    .option("--json", "print the result as JSON", false)
    .action(async (file: string, options: { dryRun: boolean; json: boolean }) => {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (error) {
        io.err(`${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}).`);
        hooks.setExitCode(2);
        return;
      }
      await hooks.platform((await import("./security-policies.ts")).securityPoliciesCommand, { action: "update", text, source: resolve(file), dryRun: options.dryRun, json: options.json });
    });
}

/** The window, log directory and policy of a detector run, or undefined after explaining what is wrong. */
async function windowInput(options: WindowOptions, config: Config, io: CommandIO): Promise<{ since: number; until: number; logDir: string; policy: SecurityPolicy } | undefined> {
  const now = Date.now();
  const until = options.until === undefined ? now : parseTimeArgument(options.until, now);
  const since = parseTimeArgument(options.since ?? "24h", now);
  const problems: string[] = [];
  if (until === undefined) problems.push(`--until "${options.until}" is neither an ISO-8601 time nor a duration like 24h`);
  if (since === undefined) problems.push(`--since "${options.since}" is neither an ISO-8601 time nor a duration like 24h`);
  if (since !== undefined && until !== undefined && since >= until) problems.push("--since must be before --until");
  const logDir = options.logDir ?? config.paths.logs;
  if (!(await stat(logDir).catch(() => undefined))?.isDirectory()) problems.push(`log directory ${logDir} does not exist`);
  // A policy file is checked with the other arguments; the policy in force is read only for a run that will happen.
  const policy = options.policy !== undefined || problems.length === 0 ? await (await import("./security-policy-in-force.ts")).detectorPolicy(config, options.policy, io) : undefined;
  if (policy && !policy.ok) problems.push(...policy.problems);
  if (problems.length > 0 || !policy?.ok || since === undefined || until === undefined) {
    for (const problem of problems) io.err(problem);
    return undefined;
  }
  return { since, until, logDir, policy: policy.policy };
}
