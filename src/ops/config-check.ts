import type { CommandIO } from "../platform/command.ts";
import { effectiveSettings, loadConfig } from "../platform/config.ts";

export interface ConfigCheckOptions {
  print: boolean;
  json: boolean;
}

/**
 * `azora config check [--print] [--json]`: every problem at once (exit 1), or the verdict; --print adds
 * each variable's effective value with secrets redacted. It reads the environment only: nothing is created.
 */
export function configCheck(env: NodeJS.ProcessEnv, options: ConfigCheckOptions, io: CommandIO): number {
  const result = loadConfig(env);
  const settings = options.print ? effectiveSettings(env) : undefined;
  if (options.json) {
    io.out(JSON.stringify({ valid: result.ok, problems: result.ok ? [] : result.problems, ...(settings ? { settings } : {}) }, null, 2));
    return result.ok ? 0 : 1;
  }
  if (!result.ok) {
    io.err(`Configuration is invalid (${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}):`);
    for (const problem of result.problems) io.err(`  - ${problem}`);
  } else {
    const { config } = result;
    // DB_SYNC is the embedded database's promise; PostgreSQL keeps its own (synchronous_commit).
    const database = config.database.url ? "PostgreSQL" : config.database.sync === "always" ? "embedded" : `embedded with DB_SYNC=${config.database.sync}`;
    io.out(`Configuration is valid (database: ${database}, cache: ${config.redis.url ? "Redis" : "in-process"}).`);
    if (!config.database.url && config.database.sync === "off") {
      io.err("Warning: DB_SYNC=off: acknowledged writes are never synced to disk; an OS crash or power loss can lose or corrupt the database.");
    }
  }
  if (settings) {
    const width = Math.max(...settings.map((setting) => setting.name.length));
    for (const setting of settings) {
      io.out(`${setting.name.padEnd(width)}  ${setting.value || "(unset)"}${setting.source === "default" ? "   (default)" : ""}`);
    }
  }
  return result.ok ? 0 : 1;
}
