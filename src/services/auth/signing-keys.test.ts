import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { migrate } from "../../platform/db/migrator.ts";
import { openPglite } from "../../platform/db/pglite.ts";
import { createSigningKeysRepository } from "./signing-keys.repository.ts";
import { loadSigner, newSigningKey } from "./signing-keys.ts";

// While the database is down the signer keeps the keys it last read (a token is never refused for an
// outage), but a key whose retirement time passes meanwhile must leave the JWKS all the same.
describe("signing keys during a database outage", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("keeps publishing the keys last read, except one whose retirement time has passed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "azora-signing-"));
    dirs.push(dir);
    const db = await openPglite(join(dir, "pg"));
    await migrate(db);
    const masterSecret = "m".repeat(40);
    const repo = createSigningKeysRepository(db);
    const [start] = await db.query<{ now: Date }>("SELECT now()");
    let now = start!.now.getTime();
    const clock = { now: () => now };
    // A rotation in progress: the new key signs, the old one is published until a minute from now.
    const old = await newSigningKey(masterSecret);
    await repo.insert({ ...old, signsFrom: new Date(now - 60_000) });
    const current = await newSigningKey(masterSecret);
    await repo.insert({ ...current, signsFrom: new Date(now - 1_000) });
    await repo.retireOthers(current.kid, new Date(now + 60_000));

    const signer = await loadSigner(repo, { issuer: "i", audience: "a", accessTtlSeconds: 60, masterSecret, clock }, () => undefined);
    expect((await signer.jwks()).keys.map((key) => key.kid).sort()).toEqual([old.kid, current.kid].sort());

    await db.close(); // the database is gone
    now += 10_000;
    expect((await signer.jwks()).keys.map((key) => key.kid).sort()).toEqual([old.kid, current.kid].sort());
    now += 60_000; // the old key's retirement passes during the outage
    expect((await signer.jwks()).keys.map((key) => key.kid)).toEqual([current.kid]);
  }, 120_000);
});
