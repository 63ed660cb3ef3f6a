import { z } from "zod";
import type { PlatformCommand } from "../platform/command.ts";
import { cliActor, recordAudit } from "../platform/audit/audit.service.ts";
import { LogEvent } from "../platform/log-events.ts";
import { revokeTokensOf } from "../platform/revocation/revocation.ts";
import { createUsersRepository } from "../services/users/users.repository.ts";
import { createUsersService } from "../services/users/users.service.ts";

const args = z.object({ email: z.string().trim().toLowerCase().pipe(z.email()), role: z.enum(["user", "admin"]), json: z.boolean().default(false) });
export type SetRoleArgs = z.input<typeof args>;

/** `azora user promote|demote EMAIL`: sets the role through the users service, so the cached profile is dropped too. */
export const setRoleCommand: PlatformCommand<SetRoleArgs> = {
  name: "user set-role",
  async run(context, rawArgs, io) {
    const parsed = args.safeParse(rawArgs);
    if (!parsed.success) {
      io.err("Give the user's email address, e.g. azora user promote jane@example.com");
      return 2;
    }
    const { email, role, json } = parsed.data;
    const users = createUsersService({ users: createUsersRepository(context.db), cache: context.coherentCache });
    const result = await users.setRole(email, role);
    if (!result.ok) {
      io.err(`No user with the email ${email}. Check the address (azora looks it up in lower case).`);
      return 1;
    }
    if (result.changed) {
      context.logs.security.info(
        { event: LogEvent.ROLE_CHANGED, userId: result.user.id, email, role, actor: "cli" },
        "role changed",
      );
      // A demoted admin's live tokens end now, not when they expire (their sessions refresh into plain-user tokens).
      if (role === "user") await revokeTokensOf(context, result.user.id);
      await recordAudit(context, { actor: io.actor ?? cliActor(), action: role === "admin" ? "user.promote" : "user.demote", target: `user:${result.user.id}`, details: { role } });
    }
    if (json) io.out(JSON.stringify({ id: result.user.id, email, role, changed: result.changed }));
    else io.out(result.changed ? `${email} is now ${role === "admin" ? "an admin" : "a regular user"}.` : `${email} already was ${role}; nothing changed.`);
    return 0;
  },
};
