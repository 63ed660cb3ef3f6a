import type { Queryable } from "../../platform/db/db.ts";

export type IncidentStatus = "investigating" | "identified" | "monitoring" | "resolved";

/** One status change with its public message. */
export interface IncidentUpdate {
  status: IncidentStatus;
  message: string;
  at: string;
}

/** An incident as the status page shows it. The incident tooling (`azora incident`) declares, updates and resolves them. */
export interface Incident {
  id: string;
  /** The guide's reference (`incident-2025-001`); null for incidents opened without the tooling. */
  reference: string | null;
  title: string;
  impact: "minor" | "major" | "critical";
  /** SEV-1 (critical) … SEV-4 (low); null for incidents opened without the tooling. */
  severity: number | null;
  service: string;
  status: IncidentStatus;
  message: string;
  components: string[];
  etaMinutes: number | null;
  startedAt: string;
  updatedAt: string;
  resolvedAt: string | null;
  /** Oldest first. */
  updates: IncidentUpdate[];
}

interface Row {
  id: string;
  reference: string | null;
  title: string;
  impact: Incident["impact"];
  severity: number | null;
  service: string;
  status: IncidentStatus;
  message: string;
  components: string[];
  eta_minutes: number | null;
  started_at: Date;
  updated_at: Date;
  resolved_at: Date | null;
}

interface UpdateRow {
  incident_id: string;
  status: IncidentStatus;
  message: string;
  created_at: Date;
}

const toIncident = (row: Row, updates: IncidentUpdate[]): Incident => ({
  id: row.id,
  reference: row.reference,
  title: row.title,
  impact: row.impact,
  severity: row.severity,
  service: row.service,
  status: row.status,
  message: row.message,
  components: row.components,
  etaMinutes: row.eta_minutes,
  startedAt: row.started_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  resolvedAt: row.resolved_at ? row.resolved_at.toISOString() : null,
  updates,
});

const columns = "id, reference, title, impact, severity, service, status, message, components, eta_minutes, started_at, updated_at, resolved_at";

export interface NewIncident {
  reference: string;
  title: string;
  impact: Incident["impact"];
  severity: number;
  service: string;
  message: string;
  etaMinutes: number | null;
  at: Date;
}

export function createIncidentsRepository(db: Queryable) {
  /** Updates of the given incidents, oldest first, grouped by incident id. */
  async function updatesOf(ids: string[]): Promise<Map<string, IncidentUpdate[]>> {
    const byIncident = new Map<string, IncidentUpdate[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return byIncident;
    const rows = await db.query<UpdateRow>(
      "SELECT incident_id, status, message, created_at FROM incident_updates WHERE incident_id = ANY($1::uuid[]) ORDER BY created_at, id",
      [ids],
    );
    for (const row of rows) byIncident.get(row.incident_id)?.push({ status: row.status, message: row.message, at: row.created_at.toISOString() });
    return byIncident;
  }
  const withUpdates = async (rows: Row[]) => {
    const updates = await updatesOf(rows.map((row) => row.id));
    return rows.map((row) => toIncident(row, updates.get(row.id) ?? []));
  };

  return {
    /** Incidents not yet resolved, newest first (a status page shows a handful, never thousands). */
    async listOpen(limit = 20): Promise<Incident[]> {
      return withUpdates(await db.query<Row>(`SELECT ${columns} FROM incidents WHERE resolved_at IS NULL ORDER BY started_at DESC LIMIT $1`, [limit]));
    },
    /** Every incident, newest first; `open` keeps the unresolved ones. */
    async list(options: { open: boolean; limit: number }): Promise<Incident[]> {
      const where = options.open ? "WHERE resolved_at IS NULL" : "";
      return withUpdates(await db.query<Row>(`SELECT ${columns} FROM incidents ${where} ORDER BY started_at DESC LIMIT $1`, [options.limit]));
    },
    /** By the guide's reference (`incident-2025-001`), or undefined. */
    async findByReference(reference: string): Promise<Incident | undefined> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM incidents WHERE reference = $1`, [reference]);
      return (await withUpdates(rows))[0];
    },
    /** The highest sequence number used for a year's references (0 when none). */
    async lastSequence(year: number): Promise<number> {
      const [row] = await db.query<{ last: number | null }>(
        "SELECT max(substring(reference FROM '[0-9]+$')::integer) AS last FROM incidents WHERE reference LIKE $1",
        [`incident-${year}-%`],
      );
      return row?.last ?? 0;
    },
    /** Inserts the incident and its first update; "taken" when the reference already exists. */
    async declare(incident: NewIncident): Promise<{ ok: true; incident: Incident } | { ok: false; reason: "taken" }> {
      const rows = await db.query<Row>(
        `INSERT INTO incidents (reference, title, impact, severity, service, message, components, eta_minutes, started_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (reference) DO NOTHING RETURNING ${columns}`,
        [incident.reference, incident.title, incident.impact, incident.severity, incident.service, incident.message, [incident.service], incident.etaMinutes, incident.at.toISOString()],
      );
      const row = rows[0];
      if (!row) return { ok: false, reason: "taken" };
      await db.query("INSERT INTO incident_updates (incident_id, status, message, created_at) VALUES ($1, 'investigating', $2, $3)", [row.id, incident.message, incident.at.toISOString()]);
      return { ok: true, incident: (await withUpdates([row]))[0]! };
    },
    /** Records a status change; resolving also sets resolved_at, which takes the incident off the status page. */
    async addUpdate(id: string, update: { status: IncidentStatus; message: string; at: Date }): Promise<void> {
      const at = update.at.toISOString();
      await db.query("INSERT INTO incident_updates (incident_id, status, message, created_at) VALUES ($1, $2, $3, $4)", [id, update.status, update.message, at]);
      await db.query(
        `UPDATE incidents SET status = $2, message = $3, updated_at = $4,
           resolved_at = CASE WHEN $2 = 'resolved' THEN $4::timestamptz ELSE NULL END WHERE id = $1`,
        [id, update.status, update.message, at],
      );
    },
    async open(incident: { title: string; impact: Incident["impact"]; message: string; components: string[] }): Promise<Incident> {
      const [row] = await db.query<Row>(
        `INSERT INTO incidents (title, impact, message, components) VALUES ($1, $2, $3, $4) RETURNING ${columns}`,
        [incident.title, incident.impact, incident.message, incident.components],
      );
      return toIncident(row!, []);
    },
    /** One incident, resolved or not, by its reference (`incident-2025-001`) or its id; undefined when there is none. */
    async find(idOrReference: string): Promise<Incident | undefined> {
      const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrReference);
      const rows = await db.query<Row>(`SELECT ${columns} FROM incidents WHERE ${byId ? "id" : "reference"} = $1`, [idOrReference]);
      return (await withUpdates(rows))[0];
    },
    async resolve(id: string): Promise<void> {
      await db.query("UPDATE incidents SET status = 'resolved', resolved_at = now(), updated_at = now() WHERE id = $1", [id]);
    },
  };
}

export type IncidentsRepository = ReturnType<typeof createIncidentsRepository>;
