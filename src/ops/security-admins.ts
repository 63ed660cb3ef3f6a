import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { runPlatformCommand } from "./run-platform-command.ts";

/** `security admins` (for the access monitor): the ids of the accounts that hold the admin role now, as JSON. */
export const securityAdminsCommand: PlatformCommand<Record<string, never>> = {
  name: "security admins",
  async run(context, _args, io) {
    const rows = await context.db.query<{ id: string }>("SELECT id::text AS id FROM users WHERE role = 'admin' ORDER BY id");
    io.out(JSON.stringify(rows.map((row) => row.id)));
    return 0;
  },
};

/**
 * The admins the access monitor watches besides those its logs show being granted the role: the accounts
 * that hold it in the database now (read where the data's owner is). Where no database can be read (a copy
 * of the logs on another machine), none, and stderr says so.
 */
export async function adminsInForce(config: Config, io: CommandIO): Promise<string[]> {
  const out: string[] = [];
  const err: string[] = [];
  try {
    const code = await runPlatformCommand(config, securityAdminsCommand, {}, { out: (text) => out.push(text), err: (text) => err.push(text) });
    if (code === 0) return JSON.parse(out.join("\n")) as string[];
    io.err(`The admins in the database could not be read (${err.join(" ").trim().slice(0, 300) || `exit ${code}`}); watching those the logs name, plus --admin.`);
  } catch (error) {
    io.err(`The admins in the database could not be read (${error instanceof Error ? error.message.split("\n")[0]!.slice(0, 300) : String(error)}); watching those the logs name, plus --admin.`);
  }
  return [];
}
