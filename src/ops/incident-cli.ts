import { resolve } from "node:path";
import { Option, type Command } from "commander";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";

export interface IncidentCliHooks {
  io: CommandIO;
  /** The environment, for PROMETHEUS_URL (the default of --prometheus-url, as `azora deploy` has it). */
  env: NodeJS.ProcessEnv;
  platform: <Args extends Record<string, unknown>>(command: PlatformCommand<Args>, args: Args) => Promise<void>;
  setExitCode: (code: number) => void;
}

/** `30m`, `2h`, `45` (minutes) → minutes; undefined when it is none of these. */
export function parseMinutes(text: string): number | undefined {
  const match = /^(\d+)\s*(m|min|h)?$/i.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * (match[2]?.toLowerCase() === "h" ? 60 : 1);
}

/** An ISO time (`2025-03-01T10:00:00Z`) or a time ago (`90m`, `2h`, `1d`) → ISO; undefined when it is neither. */
export function parseInstant(text: string, now = Date.now()): string | undefined {
  const ago = /^(\d+)(m|h|d)$/.exec(text.trim());
  if (ago) return new Date(now - Number(ago[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as "m" | "h" | "d"]).toISOString();
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const parsed = Date.parse(text);
  return Number.isNaN(parsed) ? undefined : new Date(parsed).toISOString();
}

/** `azora incident declare|update|resolve|list|show|collect-logs|postmortem`: the guide's Incident Response. */
export function registerIncidentCommands(program: Command, hooks: IncidentCliHooks): void {
  const { io, env, platform, setExitCode } = hooks;
  const refuse = (problems: string[]) => {
    problems.forEach((problem) => io.err(problem));
    setExitCode(2);
  };
  // A malformed reference is a usage error (exit 2), not an unknown incident (exit 1).
  const malformed = async (id: string | undefined) => {
    if (id === undefined) return false;
    const { INCIDENT_REFERENCE, unknownIncident } = await import("./incidents/incident-commands.ts");
    return !INCIDENT_REFERENCE.test(id) && (refuse([unknownIncident(id)]), true);
  };
  const ifWellFormed = async (id: string, run: () => Promise<void>): Promise<void> => ((await malformed(id)) ? undefined : run());
  const incident = program.command("incident").description("Incident response: declare, update, resolve, collect logs, write the post-mortem.");

  incident
    .command("declare [id]")
    .description("Declare an incident (SEV-1…SEV-4): it appears on /status at once; prints the internal and external messages filled in. The id (incident-2025-001) is generated when omitted.")
    .requiredOption("--sev <1-4>", "severity: 1 critical, 2 high, 3 medium, 4 low")
    .requiredOption("--service <name>", "the affected service (gateway, auth, users, …)")
    .requiredOption("--impact <text>", "what users see, in one sentence (shown on the status page)")
    .option("--eta <duration>", "estimated time to resolution: 30m, 2h")
    .option("--json", "print the incident and both messages as JSON", false)
    .action(async (id: string | undefined, options: { sev: string; service: string; impact: string; eta?: string; json: boolean }) => {
      if (await malformed(id)) return;
      const problems: string[] = [];
      const severity = /^(sev-?)?([1-4])$/i.exec(options.sev)?.[2];
      if (!severity) problems.push(`--sev takes 1, 2, 3 or 4 (SEV-1 critical … SEV-4 low), not "${options.sev}".`);
      const eta = options.eta === undefined ? undefined : parseMinutes(options.eta);
      if (options.eta !== undefined && (eta === undefined || eta < 1 || eta > 10_080)) problems.push(`--eta takes a duration such as 30m or 2h (at most 7 days), not "${options.eta}".`);
      if (problems.length > 0) return refuse(problems);
      return platform((await import("./incidents/incident-commands.ts")).incidentDeclareCommand, {
        severity: Number(severity),
        service: options.service,
        impact: options.impact,
        json: options.json,
        ...(id === undefined ? {} : { id }),
        ...(eta === undefined ? {} : { etaMinutes: eta }),
      });
    });

  incident
    .command("update <id>")
    .description("Record a status change with its public message (shown on /status).")
    .addOption(new Option("--status <status>", "the new status").choices(["investigating", "identified", "monitoring", "resolved"]).makeOptionMandatory())
    .requiredOption("--message <text>", "what changed, for the status page")
    .option("--json", "print the incident as JSON", false)
    .action((id: string, options: { status: string; message: string; json: boolean }) => ifWellFormed(id, async () => platform((await import("./incidents/incident-commands.ts")).incidentUpdateCommand, { id, status: options.status as "investigating", message: options.message, json: options.json })));

  incident
    .command("resolve <id>")
    .description("Resolve the incident: it leaves /status.")
    .option("--message <text>", "the closing message", "This incident has been resolved.")
    .option("--json", "print the incident as JSON", false)
    .action((id: string, options: { message: string; json: boolean }) => ifWellFormed(id, async () => platform((await import("./incidents/incident-commands.ts")).incidentResolveCommand, { id, message: options.message, json: options.json })));

  incident
    .command("list")
    .description("Open incidents, newest first.")
    .option("--all", "resolved ones too", false)
    .option("--json", "print the incidents as JSON", false)
    .action(async (options: { all: boolean; json: boolean }) => platform((await import("./incidents/incident-commands.ts")).incidentListCommand, { all: options.all, json: options.json }));

  incident
    .command("show <id>")
    .description("One incident with every update.")
    .option("--json", "print the incident as JSON", false)
    .action((id: string, options: { json: boolean }) => ifWellFormed(id, async () => platform((await import("./incidents/incident-commands.ts")).incidentShowCommand, { id, json: options.json })));

  incident
    .command("collect-logs <id>")
    .description("One tar.gz for the incident's window: logs cut to it, metrics, health and breakers, deploys, redacted config, git log, a manifest with sha256 checksums.")
    .option("--since <time>", "window start: ISO time or an age (2h); default the declaration minus 1 h")
    .option("--until <time>", "window end: ISO time or an age; default now")
    .option("--out <file>", "where to write the archive (default ./<id>-logs.tar.gz)")
    .option("--ops-url <url>", "ops listener to read metrics, health and breakers from (default: the running platform's)")
    .option("--json", "print the manifest as JSON", false)
    .action(async (id: string, options: { since?: string; until?: string; out?: string; opsUrl?: string; json: boolean }) => {
      if (await malformed(id)) return;
      const problems: string[] = [];
      const since = options.since === undefined ? undefined : parseInstant(options.since);
      const until = options.until === undefined ? undefined : parseInstant(options.until);
      if (options.since !== undefined && !since) problems.push(`--since takes an ISO time (2025-03-01T10:00:00Z) or an age (90m, 2h, 1d), not "${options.since}".`);
      if (options.until !== undefined && !until) problems.push(`--until takes an ISO time (2025-03-01T10:00:00Z) or an age (90m, 2h, 1d), not "${options.until}".`);
      if (since && until && since >= until) problems.push("--since must be before --until.");
      if (options.opsUrl !== undefined && !/^https?:\/\/\S+$/.test(options.opsUrl)) problems.push("--ops-url must be an http:// or https:// URL.");
      if (problems.length > 0) return refuse(problems);
      // Absolute here: a relayed command runs in the platform's process, whose working directory is not ours.
      const out = resolve(options.out ?? `${id}-logs.tar.gz`);
      return platform((await import("./incidents/collect-logs.ts")).incidentCollectLogsCommand, { id, out, json: options.json, ...(since ? { since } : {}), ...(until ? { until } : {}), ...(options.opsUrl ? { opsUrl: options.opsUrl } : {}) });
    });

  incident
    .command("postmortem <id>")
    .description("The post-mortem document (markdown): timeline from the updates, audit log, deploys and rollbacks, Prometheus alerts and security events; impact; sections to complete.")
    .option("--out <file>", "write it to a file instead of standard output")
    .addOption(new Option("--prometheus-url <url>", "read the alerts that fired in the window from this Prometheus (default PROMETHEUS_URL); without one the document says the alerts are missing").default(env.PROMETHEUS_URL || undefined))
    .action((id: string, options: { out?: string; prometheusUrl?: string }) =>
      ifWellFormed(id, async () => {
        const prometheusUrl = options.prometheusUrl;
        // Not echoed: a Prometheus URL may carry basic-auth credentials.
        if (prometheusUrl !== undefined && (!URL.canParse(prometheusUrl) || !/^https?:$/.test(new URL(prometheusUrl).protocol))) return refuse(["--prometheus-url (or PROMETHEUS_URL) is not an http(s) URL: give one such as http://prometheus:9090."]);
        return platform((await import("./incidents/postmortem.ts")).incidentPostmortemCommand, { id, ...(options.out ? { out: resolve(options.out) } : {}), ...(prometheusUrl ? { prometheusUrl } : {}) });
      }),
    );
}
