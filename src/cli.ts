import { Command, CommanderError, Option } from "commander";
import type { CommandIO, PlatformCommand } from "./platform/command.ts";
import { loadConfig, type Config } from "./platform/config.ts";
import { healthCheck } from "./ops/health-check.ts";
import { migrateCommand } from "./ops/migrate.ts";
import { runPlatformCommand } from "./ops/run-platform-command.ts";
import { serveUntilSignal } from "./ops/up.ts";
import { setRoleCommand } from "./ops/user.ts";

const terminal: CommandIO = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
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
  const platform = <Args extends Record<string, unknown>>(command: PlatformCommand<Args>, args: Args) =>
    withConfig((loaded) => runPlatformCommand(loaded, command, args, io))();

  const program = new Command("azora")
    .description("Azora OS: an API gateway, auth and users services, and the operations guide as commands.")
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.out(text.trimEnd()), writeErr: (text) => io.err(text.trimEnd()) })
    .showHelpAfterError("(run azora --help for the list of commands)");

  program
    .command("up")
    .description("Run gateway, auth and users in one process on the embedded default (or on DATABASE_URL/REDIS_URL when set).")
    .action(withConfig((loaded) => serveUntilSignal(loaded, ["gateway", "auth", "users"], { showToken: Boolean(process.stdout.isTTY) }, io)));

  program
    .command("serve")
    .description("Run one service in this process (production: one Deployment per service). Needs DATABASE_URL.")
    .addArgument(new Command().createArgument("service", "gateway, auth or users").choices(["gateway", "auth", "users"]))
    .action((service: "gateway" | "auth" | "users") =>
      withConfig((loaded) => serveUntilSignal(loaded, [service], { showToken: Boolean(process.stdout.isTTY) }, io))(),
    );

  program
    .command("migrate")
    .description("Apply pending database migrations. Runs inside `azora up` when it holds the embedded database.")
    .option("--json", "print the report as JSON", false)
    .action((options: { json: boolean }) => platform(migrateCommand, { json: options.json }));

  program
    .command("config")
    .description("Configuration tools.")
    .command("check")
    .description("Check every configuration variable; lists all problems at once and exits 1 if there are any.")
    .action(() => {
      const loaded = config();
      if (loaded) io.out(`Configuration is valid (database: ${loaded.database.url ? "PostgreSQL" : "embedded"}, cache: ${loaded.redis.url ? "Redis" : "in-process"}).`);
      exitCode = loaded ? 0 : 1;
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
      .action((email: string, options: { json: boolean }) => platform(setRoleCommand, { email, role, json: options.json }));
  }

  program
    .command("health-check")
    .description("Check every component (gateway, services, database, cache); exit 0 only when all are healthy.")
    .option("--json", "print the result as JSON", false)
    .addOption(new Option("--url <url>", "gateway base URL (default: http://127.0.0.1:$PORT)"))
    .addOption(new Option("--ops-url <url>", "ops base URL (default: the running azora up, or http://$OPS_HOST:$OPS_PORT)"))
    .action((options: { json: boolean; url?: string; opsUrl?: string }) => withConfig((loaded) => healthCheck(loaded, options, io))());

  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    io.err(`azora: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  return exitCode;
}
