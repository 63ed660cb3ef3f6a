import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { once } from "node:events";

/**
 * Writes realistic auth.log and api.log lines (the platform's pino JSON, same fields) for tests and the
 * benchmark: a normal day of users who log in a few times, mistype now and then, browse and write, and
 * attacks planted on top. Deterministic for a seed.
 */

export interface LogUser {
  id: string;
  account: string;
  maskedEmail: string;
  home: string;
  mobile: string;
}

type Line = { at: number; file: "auth" | "api" | "security"; fields: Record<string, unknown> };

/** A small deterministic PRNG (mulberry32). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (rand: () => number, length: number) => Array.from({ length }, () => Math.floor(rand() * 16).toString(16)).join("");
const uuid = (rand: () => number) => `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-a${hex(rand, 3)}-${hex(rand, 12)}`;
/** Public-looking IPv4 addresses, avoiding the documentation ranges the planted attacks use. */
const ipv4 = (rand: () => number) => `${11 + Math.floor(rand() * 180)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${1 + Math.floor(rand() * 254)}`;

export function makeUsers(count: number, seed = 1): LogUser[] {
  const rand = random(seed);
  return Array.from({ length: count }, () => ({
    id: uuid(rand),
    account: hex(rand, 16),
    maskedEmail: `${"abcdefghijklmnopqrstuvwxyz"[Math.floor(rand() * 26)]}***@example.com`,
    home: ipv4(rand),
    mobile: ipv4(rand),
  }));
}

/** Collects lines and writes them, time-ordered, to auth.log and api.log in `dir`. */
export class LogDay {
  readonly lines: Line[] = [];
  constructor(readonly start: number) {}

  loginFailed(at: number, ip: string, user: { account: string; maskedEmail: string; id?: string }, reason = "wrong_password"): void {
    this.lines.push({ at, file: "auth", fields: { level: "warn", service: "auth", event: "LOGIN_FAILED", email: user.maskedEmail, account: user.account, ...(user.id ? { userId: user.id } : {}), ip, reason, msg: "login failed" } });
    this.access(at, ip, "POST", "/api/auth/login", "/api/auth/login", 401);
  }
  loginSucceeded(at: number, ip: string, user: LogUser): void {
    this.lines.push({ at, file: "auth", fields: { level: "info", service: "auth", event: "LOGIN_SUCCEEDED", userId: user.id, account: user.account, ip, msg: "login succeeded" } });
    this.access(at, ip, "POST", "/api/auth/login", "/api/auth/login", 200);
  }
  tokenReused(at: number, ip: string, user: LogUser, familyId: string): void {
    this.lines.push({ at, file: "auth", fields: { level: "warn", service: "auth", event: "TOKEN_REUSED", userId: user.id, familyId, ip, msg: "refresh token reused" } });
    this.access(at, ip, "POST", "/api/auth/refresh", "/api/auth/refresh", 401);
  }
  rateLimited(at: number, ip: string, route: string, user?: string): void {
    this.lines.push({ at, file: "api", fields: { level: "warn", service: "gateway", event: "RATE_LIMIT_EXCEEDED", requestId: `r${at}`, ip, ...(user ? { user } : {}), route, method: "GET", routeGroup: "read", msg: "rate limit exceeded" } });
    this.access(at, ip, "GET", route, route, 429, user);
  }
  gdprExport(at: number, userId: string, requestedBy = "self"): void {
    this.lines.push({ at, file: "security", fields: { level: "info", event: "GDPR_EXPORT", userId, requestedBy, files: 4, content: 3, attachments: 0, msg: "personal data exported" } });
  }
  access(at: number, ip: string, method: string, route: string, path: string, status: number, user?: string, tokenId?: string): void {
    this.lines.push({
      at,
      file: "api",
      fields: { level: "info", service: "gateway", event: "http_request", requestId: `r${at}-${this.lines.length}`, method, route, path, status, durationMs: 3.2, ip, ...(user ? { user, tokenId } : {}), msg: "request" },
    });
  }

  /** Writes the lines as pino does (level, time, log first) and returns how many were written. */
  async write(dir: string): Promise<number> {
    this.lines.sort((a, b) => a.at - b.at);
    const streams = {
      auth: createWriteStream(join(dir, "auth.log"), { flags: "a" }),
      api: createWriteStream(join(dir, "api.log"), { flags: "a" }),
      security: createWriteStream(join(dir, "security.log"), { flags: "a" }),
    };
    for (const line of this.lines) {
      const { level, ...rest } = line.fields;
      const text = `${JSON.stringify({ level, time: new Date(line.at).toISOString(), log: line.file, ...rest })}\n`;
      if (!streams[line.file].write(text)) await once(streams[line.file], "drain");
    }
    for (const stream of Object.values(streams)) {
      stream.end();
      await once(stream, "finish");
    }
    return this.lines.length;
  }
}

const HOUR = 3_600_000;

/**
 * A normal day of at least `events` lines: every user logs in once to three times, hours apart, from home
 * or mobile; about one login in twenty-five is mistyped first; offices share an address; a few unknown
 * addresses fail once; sessions browse and write; a few clients touch the rate limit.
 */
export function normalDay(options: { start: number; events: number; users?: LogUser[]; seed?: number }): LogDay {
  const rand = random(options.seed ?? 7);
  // About thirty lines per user and day, so one pass over the users fills the day.
  const users = options.users ?? makeUsers(Math.ceil(options.events / 30), (options.seed ?? 7) + 1);
  const day = new LogDay(options.start);
  const offices = Array.from({ length: 40 }, () => ipv4(rand));
  const office = new Map(users.filter(() => rand() < 0.3).map((user) => [user.id, offices[Math.floor(rand() * offices.length)]!]));
  const readRoutes = [["/api/user/:id", (u: LogUser) => `/api/user/${u.id}`], ["/api/content", () => "/api/content"], ["/api/content/:id", () => `/api/content/${Math.floor(rand() * 1e6)}`]] as const;
  while (day.lines.length < options.events) {
    for (const user of users) {
      if (day.lines.length >= options.events) break;
      const sessions = 1 + Math.floor(rand() * 3);
      for (let session = 0; session < sessions; session++) {
        // Sessions are at least two hours apart: a refresh token keeps a session alive between them.
        const at = options.start + session * 7 * HOUR + Math.floor(rand() * 5 * HOUR);
        const ip = office.get(user.id) && rand() < 0.6 ? office.get(user.id)! : rand() < 0.7 ? user.home : user.mobile;
        if (rand() < 0.04) day.loginFailed(at - 20_000, ip, { ...user });
        day.loginSucceeded(at, ip, user);
        const tokenId = uuid(rand);
        const requests = 5 + Math.floor(rand() * 30);
        for (let request = 0; request < requests; request++) {
          const when = at + 1_000 + request * Math.floor(5_000 + rand() * 60_000);
          if (rand() < 0.15) day.access(when, ip, "POST", "/api/content", "/api/content", 201, user.id, tokenId);
          else {
            const [route, path] = readRoutes[Math.floor(rand() * readRoutes.length)]!;
            day.access(when, ip, "GET", route, path(user), rand() < 0.02 ? 404 : 200, user.id, tokenId);
          }
        }
        if (rand() < 0.01) for (let hit = 0; hit < 3; hit++) day.rateLimited(at + 60_000 + hit * 1000, ip, "/api/content", user.id);
      }
      if (rand() < 0.01) day.loginFailed(options.start + Math.floor(rand() * 23 * HOUR), ipv4(rand), { account: hex(rand, 16), maskedEmail: "x***@example.org" }, "unknown_email");
    }
  }
  return day;
}

/** Planted attacks, each with what the detector must name. */
export const attackers = {
  sprayer: "203.0.113.7",
  burster: "198.51.100.23",
  stuffingIps: Array.from({ length: 12 }, (_, index) => `192.0.2.${10 + index * 7}`),
  reuser: "198.51.100.99",
};

/** Password spraying: one address, 40 accounts, one try each over 20 minutes. */
export function plantSpraying(day: LogDay, at: number, victims: LogUser[]): void {
  victims.forEach((user, index) => day.loginFailed(at + index * 30_000, attackers.sprayer, user));
}

/** Credential stuffing: one account, 12 addresses, one or two tries each over half an hour. */
export function plantStuffing(day: LogDay, at: number, victim: LogUser): void {
  attackers.stuffingIps.forEach((ip, index) => {
    day.loginFailed(at + index * 150_000, ip, victim);
    if (index % 2 === 0) day.loginFailed(at + index * 150_000 + 4_000, ip, victim);
  });
}

/** A burst: 60 failures from one address against three accounts in two minutes. */
export function plantBurst(day: LogDay, at: number, victims: LogUser[]): void {
  for (let index = 0; index < 60; index++) day.loginFailed(at + index * 2_000, attackers.burster, victims[index % victims.length]!);
}

/** One reuse of a rotated refresh token, from an address the user never used. */
export function plantTokenReuse(day: LogDay, at: number, victim: LogUser): void {
  day.tokenReused(at, attackers.reuser, victim, "family-stolen-1");
}
