import type { Queryable } from "../../../platform/db/db.ts";

export const trafficUpstreams = ["auth", "users"] as const;
export type TrafficUpstream = (typeof trafficUpstreams)[number];
export const colours = ["blue", "green"] as const;
export type Colour = (typeof colours)[number];
export const otherColour = (colour: Colour): Colour => (colour === "blue" ? "green" : "blue");

/** One upstream's release routing: two target sets, the live colour, and the other colour's share in percent. */
export interface TrafficRoute {
  upstream: TrafficUpstream;
  blue: string[];
  green: string[];
  active: Colour;
  /** Percent of requests (0–100) sent to the colour that is not active: the canary. */
  canaryWeight: number;
  /** Grows by one with every change, so each gateway can say which change it follows. */
  revision: number;
  changedAt: string;
}

export type TrafficChange = Pick<TrafficRoute, "blue" | "green" | "active" | "canaryWeight">;

interface Row {
  upstream: TrafficUpstream;
  blue: string[];
  green: string[];
  active: Colour;
  canary_weight: number;
  revision: string;
  changed_at: Date;
}

const columns = "upstream, blue, green, active, canary_weight, revision, changed_at";
const toRoute = (row: Row): TrafficRoute => ({
  upstream: row.upstream,
  blue: row.blue,
  green: row.green,
  active: row.active,
  canaryWeight: row.canary_weight,
  revision: Number(row.revision),
  changedAt: row.changed_at.toISOString(),
});

/** Raised when another command changed the route between our read and our write. */
export class TrafficConflict extends Error {}

export function createTrafficRepository(db: Queryable) {
  return {
    async list(): Promise<TrafficRoute[]> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM traffic_routes ORDER BY upstream`);
      return rows.map(toRoute);
    },
    async get(upstream: TrafficUpstream): Promise<TrafficRoute | undefined> {
      const [row] = await db.query<Row>(`SELECT ${columns} FROM traffic_routes WHERE upstream = $1`, [upstream]);
      return row ? toRoute(row) : undefined;
    },
    /**
     * Writes the route if it is still at `expectedRevision` (undefined: no row yet), so two operators switching
     * at once cannot undo each other's change unseen.
     */
    async save(upstream: TrafficUpstream, change: TrafficChange, expectedRevision: number | undefined): Promise<TrafficRoute> {
      const values = [upstream, change.blue, change.green, change.active, change.canaryWeight];
      const [row] =
        expectedRevision === undefined
          ? await db.query<Row>(
              `INSERT INTO traffic_routes (upstream, blue, green, active, canary_weight) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (upstream) DO NOTHING RETURNING ${columns}`,
              values,
            )
          : await db.query<Row>(
              `UPDATE traffic_routes SET blue = $2, green = $3, active = $4, canary_weight = $5, revision = revision + 1, changed_at = now()
               WHERE upstream = $1 AND revision = $6 RETURNING ${columns}`,
              [...values, expectedRevision],
            );
      if (!row) throw new TrafficConflict(`The traffic route of ${upstream} was changed by someone else meanwhile; run azora traffic status and try again.`);
      return toRoute(row);
    },
  };
}

export type TrafficRepository = ReturnType<typeof createTrafficRepository>;
