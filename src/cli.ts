import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { CommandIO, PlatformCommand } from "./platform/command.ts";
import { loadConfig, packageVersion, type Config } from "./platform/config.ts";
import { registerAuthOpsCommands } from "./ops/auth-ops-cli.ts";
import { registerBackupCommands } from "./ops/backup-cli.ts";
import { registerDeployCommands } from "./ops/deploy-cli.ts";
import { registerGdprCommands } from "./ops/gdpr-cli.ts";
import { registerLogsCommands } from "./ops/logs-cli.ts";
import { registerCapacityCommands } from "./ops/capacity-cli.ts";
import { registerImagesCommands } from "./ops/images-cli.ts";
import { registerIncidentCommands } from "./ops/incident-cli.ts";
import { registerComplianceCommands } from "./ops/compliance-cli.ts";
import { registerSecurityCommands } from "./ops/security-cli.ts";
import { registerTrafficCommands } from "./ops/traffic-cli.ts";
import { terminalProgress } from "./ops/progress-bar.ts";

const terminal: CommandIO = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  progress: terminalProgress(),
};

/** The `azora` command line; returns the exit code instead of exiting, so it can be driven from tests. */
export async function main(argv: string[], io: CommandIO = terminal, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let exitCode = 0;
  const config = (): Config | undefined => {
    const result = loadConfig(env);
    if (result.ok) return result.config;
    io.err(`Configuration is invalid (${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}):`);
    for (const problem of result.problems) io.err(`  - ${problem}`);
    return undefined;
  };
  const withConfig = (action: (config: Config) => Promise<number>) => async () => {
    const loaded = config();
    exitCode = loaded ? await action(loaded) : 1;
  };
  // Each action imports its implementation when it runs, so a command loads only what it uses (docs/adr/0290).
  const platform = <Args extends Record<string, unknown>>(command: PlatformCommand<Args>, args: Args) =>
    withConfig(async (loaded) => (await import("./ops/run-platform-command.ts")).runPlatformCommand(loaded, command, args, io))();

  const program = new Command("azora")
    .description("Azora OS: an API gateway, auth and users services, and the operations guide as commands.")
    .version(packageVersion(), "-V, --version", "print the version and exit")
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text.trimEnd()), writeErr: (text) => io.err(text.trimEnd()) })
    .showHelpAfterError("(run azora --help for the list of commands)");

  program
    .command("up")
    .description("Run gateway, auth and users in one process on the embedded default (or on DATABASE_URL/REDIS_URL when set).")
    .action(withConfig(async (loaded) => (await import("./ops/up.ts")).serveUntilSignal(loaded, ["gateway", "auth", "users"], { showToken: Boolean(process.stdout.isTTY) }, io)));

  program
    .command("serve")
    .description("Run one service in this process (production: one Deployment per service). Needs DATABASE_URL.")
    .addArgument(new Command().createArgument("service", "gateway, auth or users").choices(["gateway", "auth", "users"]))
    .action((service: "gateway" | "auth" | "users") =>
      withConfig(async (loaded) => (await import("./ops/up.ts")).serveUntilSignal(loaded, [service], { showToken: Boolean(process.stdout.isTTY) }, io))(),
    );

  program
    .command("migrate")
    .description("Apply pending database migrations. Runs inside `azora up` when it holds the embedded database.")
    .option("--json", "print the report as JSON", false)
    .action(async (options: { json: boolean }) => platform((await import("./ops/migrate.ts")).migrateCommand, { json: options.json }));

  program
    .command("config")
    .description("Configuration tools.")
    .command("check")
    .description("Check every configuration variable; lists all problems at once and exits 1 if there are any. Creates nothing.")
    .option("--print", "also print the effective value of every variable (secrets redacted)", false)
    .option("--json", "print the result as JSON", false)
    .action(async (options: { print: boolean; json: boolean }) => {
      exitCode = (await import("./ops/config-check.ts")).configCheck(env, options, io);
    });

  const user = program.command("user").description("User administration.");
  for (const [verb, role, what] of [
    ["promote", "admin", "Give a user the admin role (takes effect at once)."],
    ["demote", "user", "Take the admin role away (takes effect at once)."],
  ] as const) {
    user
      .command(`${verb} <email>`)
      .description(what)
      .option("--json", "print the result as JSON", false)
      .action(async (email: string, options: { json: boolean }) => platform((await import("./ops/user.ts")).setRoleCommand, { email, role, json: options.json }));
  }

  registerBackupCommands(program, { io, withConfig, platform, setExitCode: (code) => (exitCode = code) });
  registerGdprCommands(program, { io, platform, setExitCode: (code) => (exitCode = code) });
  registerDeployCommands(program, { io, env, setExitCode: (code) => (exitCode = code) });
  registerLogsCommands(program, { io, withConfig });
  registerCapacityCommands(program, { io, env, platform, setExitCode: (code) => (exitCode = code) });
  registerImagesCommands(program, { io, withConfig });
  registerIncidentCommands(program, { io, env, platform, setExitCode: (code) => (exitCode = code) });
  registerComplianceCommands(program, { io, platform, setExitCode: (code) => (exitCode = code) });
  registerSecurityCommands(program, { io, withConfig, platform, setExitCode: (code) => (exitCode = code) });
  registerTrafficCommands(program, { io, platform, setExitCode: (code) => (exitCode = code) });
  const maintenance = program
    .command("maintenance")
    .description("Maintenance mode: public routes answer 503 with a message; health, ops and ops-token requests pass.");
  maintenance
    .command("on")
    .description("Switch maintenance mode on for every gateway process (within 5 s).")
    .option("--message <text>", "what clients and the status page are told (at most 500 characters)")
    .addOption(new Option("--retry-after <seconds>", "Retry-After sent with each 503").default("600"))
    .option("--json", "print the state as JSON", false)
    .action(async (options: { message?: string; retryAfter: string; json: boolean }) => {
      if (!/^\d+$/.test(options.retryAfter)) {
        io.err(`--retry-after takes whole seconds (1 to 86400), not "${options.retryAfter}".`);
        exitCode = 2;
        return;
      }
      const args = { action: "on" as const, retryAfter: Number(options.retryAfter), json: options.json, ...(options.message === undefined ? {} : { message: options.message }) };
      return platform((await import("./ops/maintenance.ts")).maintenanceCommand, args);
    });
  maintenance
    .command("off")
    .description("Switch maintenance mode off.")
    .option("--json", "print the state as JSON", false)
    .action(async (options: { json: boolean }) => platform((await import("./ops/maintenance.ts")).maintenanceCommand, { action: "off", json: options.json }));
  maintenance
    .command("status")
    .description("Show whether maintenance mode is on, since when, and its message.")
    .option("--json", "print the state as JSON", false)
    .action(async (options: { json: boolean }) => platform((await import("./ops/maintenance.ts")).maintenanceCommand, { action: "status", json: options.json }));

  registerAuthOpsCommands(program, (command, args) => platform(command, args), { io, setExitCode: (code) => (exitCode = code) });

  program
    .command("health-check")
    .description("Check every component (gateway, services, database, cache); exit 0 only when all are healthy.")
    .option("--json", "print the result as JSON", false)
    .addOption(new Option("--url <url>", "gateway base URL (default: http://127.0.0.1:$PORT)").argParser(httpUrl))
    .addOption(
      new Option("--ops-url <url>", "ops base URL; repeat it for several processes (default: the running azora up, or http://$OPS_HOST:$OPS_PORT)")
        .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), httpUrl(value)]),
    )
    .action((options: { json: boolean; url?: string; opsUrl?: string[] }) => withConfig(async (loaded) => (await import("./ops/health-check.ts")).healthCheck(loaded, options, io))());

  program
    .command("metrics")
    .description("The ops dashboard's figures: request rate, errors and p95 per service, the gauges, and the alerts the rule thresholds raise.")
    .option("--json", "print the figures as JSON", false)
    .addOption(new Option("--ops-url <url>", "ops base URL (default: the running azora up, or http://$OPS_HOST:$OPS_PORT)").argParser(httpUrl))
    .action((options: { json: boolean; opsUrl?: string }) => withConfig(async (loaded) => (await import("./ops/metrics-cli.ts")).metricsCommand(loaded, options, io))());

  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    io.err(`azora: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  return exitCode;
}

/** An option value that must be an http(s) URL: anything else is a usage error (exit 2). */
function httpUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === "http:" || url.protocol === "https:") return value;
  } catch {
    // reported below
  }
  throw new InvalidArgumentError("must be an http:// or https:// URL, e.g. http://127.0.0.1:8080");
}
