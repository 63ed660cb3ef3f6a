import { z } from "zod";
import type { CommandIO, PlatformCommand } from "../../platform/command.ts";
import type { PlatformContext } from "../../platform/context.ts";
import type { Queryable } from "../../platform/db/db.ts";
import { cliActor, recordAudit } from "../../platform/audit/audit.service.ts";
import { createIncidentsRepository, type Incident, type IncidentStatus } from "../../services/gateway/incidents.repository.ts";
import { describeMinutes, externalMessage, internalMessage, SEVERITIES, serviceName, statusWord, type Severity } from "./templates.ts";

/** The guide's form: `incident-2025-001` (year, then a sequence number of at least three digits). */
export const INCIDENT_REFERENCE = /^incident-\d{4}-\d{3,6}$/;
const reference = z.string().regex(INCIDENT_REFERENCE);
const statuses = ["investigating", "identified", "monitoring", "resolved"] as const;

/** Loads an incident by its reference (`incident-2025-001`); undefined when there is none. Other tools (forensics) read incidents through this. */
export async function loadIncident(db: Queryable, id: string): Promise<Incident | undefined> {
  if (!INCIDENT_REFERENCE.test(id)) return undefined;
  return createIncidentsRepository(db).findByReference(id);
}

/** The message for an unknown reference, with what to do about it. */
export const unknownIncident = (id: string) =>
  INCIDENT_REFERENCE.test(id)
    ? `No incident ${id}. \`azora incident list\` shows the known ones.`
    : `"${id}" is not an incident reference: they look like incident-2025-001 (\`azora incident list\` shows the known ones).`;

const audit = (context: PlatformContext, io: CommandIO, action: string, incident: Incident, details: Record<string, unknown>) =>
  recordAudit(context, { actor: io.actor ?? cliActor(), action, target: `incident:${incident.reference}`, details: { reference: incident.reference, ...details } });

const declareArgs = z.object({
  id: reference.optional(),
  severity: z.number().int().min(1).max(4),
  service: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/),
  impact: z.string().trim().min(1).max(2000),
  etaMinutes: z.number().int().min(1).max(10_080).optional(),
  json: z.boolean().default(false),
});

/** `azora incident declare`: opens the incident (on the status page at once) and prints the guide's two messages filled in. */
export const incidentDeclareCommand: PlatformCommand<z.input<typeof declareArgs>> = {
  name: "incident declare",
  async run(context, rawArgs, io) {
    const parsed = declareArgs.safeParse(rawArgs);
    if (!parsed.success) {
      io.err('Usage: azora incident declare --sev 1-4 --service NAME --impact "what users see" [--eta 30m] [incident-2025-001] (the service is lower-case letters, digits and dashes; the impact at most 2000 characters).');
      return 2;
    }
    const request = parsed.data;
    const repository = createIncidentsRepository(context.db);
    const now = new Date(context.clock.now());
    const severity = request.severity as Severity;
    const fields = {
      title: `${serviceName(request.service)}: ${request.impact}`.slice(0, 200),
      impact: SEVERITIES[severity].impact,
      severity,
      service: request.service,
      message: request.impact,
      etaMinutes: request.etaMinutes ?? null,
      at: now,
    };
    let declared: Incident | undefined;
    // A generated reference can race another declaration: the unique column decides, and the next number is tried.
    for (let attempt = 0; attempt < 5 && !declared; attempt++) {
      const chosen = request.id ?? `incident-${now.getUTCFullYear()}-${String((await repository.lastSequence(now.getUTCFullYear())) + 1).padStart(3, "0")}`;
      const result = await repository.declare({ ...fields, reference: chosen });
      if (result.ok) declared = result.incident;
      else if (request.id) {
        io.err(`Incident ${request.id} already exists: \`azora incident show ${request.id}\` shows it; leave the reference out to get the next free one.`);
        return 1;
      }
    }
    if (!declared) throw new Error("could not find a free incident reference after 5 attempts");
    await audit(context, io, "incident.declare", declared, { severity, service: request.service, status: declared.status, etaMinutes: fields.etaMinutes, declaredAt: declared.startedAt });
    if (request.json) {
      io.out(JSON.stringify({ incident: declared, internalMessage: internalMessage(declared), externalMessage: externalMessage(declared) }));
      return 0;
    }
    io.out(`Declared ${declared.reference} (SEV-${severity}, ${SEVERITIES[severity].name}) at ${declared.startedAt}; it is on the public status page now.`);
    io.out("");
    io.out("Internal (#incidents channel):");
    io.out(internalMessage(declared));
    io.out("");
    io.out("External (customers):");
    io.out(externalMessage(declared));
    return 0;
  },
};

const updateArgs = z.object({ id: z.string(), status: z.enum(statuses), message: z.string().trim().min(1).max(2000), json: z.boolean().default(false) });

/** `azora incident update ID --status … --message "…"`: a status change with its public message. */
export const incidentUpdateCommand: PlatformCommand<z.input<typeof updateArgs>> = {
  name: "incident update",
  async run(context, rawArgs, io) {
    const parsed = updateArgs.safeParse(rawArgs);
    if (!parsed.success) {
      io.err(`Usage: azora incident update incident-2025-001 --status ${statuses.join("|")} --message "what changed" (at most 2000 characters).`);
      return 2;
    }
    return applyUpdate(context, io, parsed.data.id, parsed.data.status, parsed.data.message, parsed.data.json);
  },
};

const resolveArgs = z.object({ id: z.string(), message: z.string().trim().min(1).max(2000).optional(), json: z.boolean().default(false) });

/** `azora incident resolve ID`: takes it off the status page; the post-mortem is next. */
export const incidentResolveCommand: PlatformCommand<z.input<typeof resolveArgs>> = {
  name: "incident resolve",
  async run(context, rawArgs, io) {
    const parsed = resolveArgs.safeParse(rawArgs);
    if (!parsed.success) {
      io.err('Usage: azora incident resolve incident-2025-001 [--message "what fixed it"].');
      return 2;
    }
    return applyUpdate(context, io, parsed.data.id, "resolved", parsed.data.message ?? "This incident has been resolved.", parsed.data.json);
  },
};

async function applyUpdate(context: PlatformContext, io: CommandIO, id: string, status: IncidentStatus, message: string, json: boolean): Promise<number> {
  const before = await loadIncident(context.db, id);
  if (!before) {
    io.err(unknownIncident(id));
    return 1;
  }
  if (status === "resolved" && before.resolvedAt) {
    io.err(`${id} was already resolved at ${before.resolvedAt}; nothing changed.`);
    if (json) io.out(JSON.stringify({ incident: before }));
    return 0;
  }
  const now = new Date(context.clock.now());
  await createIncidentsRepository(context.db).addUpdate(before.id, { status, message, at: now });
  const after = (await loadIncident(context.db, id))!;
  const action = status === "resolved" ? "incident.resolve" : before.resolvedAt ? "incident.reopen" : "incident.update";
  await audit(context, io, action, after, { status, previousStatus: before.status, message, updatedAt: after.updatedAt });
  if (json) io.out(JSON.stringify({ incident: after }));
  else if (status === "resolved") {
    const minutes = Math.max(1, Math.round((Date.parse(after.updatedAt) - Date.parse(after.startedAt)) / 60_000));
    io.out(`Resolved ${id} at ${after.updatedAt} after ${describeMinutes(minutes)}; it is off the status page. Next: azora incident postmortem ${id}`);
  } else io.out(`${id} is ${statusWord(status)} (${after.updatedAt}): "${message}" is on the status page.`);
  return 0;
}

const listArgs = z.object({ all: z.boolean().default(false), limit: z.number().int().min(1).max(1000).default(50), json: z.boolean().default(false) });

/** `azora incident list [--all]`: open incidents (all of them with --all), newest first. */
export const incidentListCommand: PlatformCommand<z.input<typeof listArgs>> = {
  name: "incident list",
  async run(context, rawArgs, io) {
    const { all, limit, json } = listArgs.parse(rawArgs);
    const incidents = (await createIncidentsRepository(context.db).list({ open: !all, limit })).filter((incident) => incident.reference);
    if (json) {
      io.out(JSON.stringify({ incidents }));
      return 0;
    }
    if (incidents.length === 0) {
      io.out(all ? "No incidents recorded." : "No open incidents (--all lists resolved ones too).");
      return 0;
    }
    io.out(["reference".padEnd(20), "sev".padEnd(6), "status".padEnd(14), "service".padEnd(12), "declared".padEnd(21), "impact"].join(" "));
    for (const incident of incidents) {
      io.out([incident.reference!.padEnd(20), `SEV-${incident.severity}`.padEnd(6), incident.status.padEnd(14), incident.service.padEnd(12), incident.startedAt.slice(0, 19).padEnd(21), incident.message.slice(0, 60)].join(" "));
    }
    return 0;
  },
};

const showArgs = z.object({ id: z.string(), json: z.boolean().default(false) });

/** `azora incident show ID`: the incident and every update. */
export const incidentShowCommand: PlatformCommand<z.input<typeof showArgs>> = {
  name: "incident show",
  async run(context, rawArgs, io) {
    const { id, json } = showArgs.parse(rawArgs);
    const incident = await loadIncident(context.db, id);
    if (!incident) {
      io.err(unknownIncident(id));
      return 1;
    }
    if (json) {
      io.out(JSON.stringify({ incident }));
      return 0;
    }
    const severity = (incident.severity ?? 3) as Severity;
    io.out(`${incident.reference}  SEV-${severity} (${SEVERITIES[severity].name})  ${statusWord(incident.status)}`);
    io.out(`Service:  ${serviceName(incident.service)}`);
    io.out(`Impact:   ${incident.title}`);
    io.out(`ETA:      ${describeMinutes(incident.etaMinutes)}`);
    io.out(`Declared: ${incident.startedAt}${incident.resolvedAt ? `   Resolved: ${incident.resolvedAt}` : ""}`);
    io.out("Updates:");
    for (const update of incident.updates) io.out(`  ${update.at}  ${statusWord(update.status).padEnd(13)} ${update.message}`);
    return 0;
  },
};
