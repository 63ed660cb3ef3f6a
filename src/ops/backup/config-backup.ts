import { randomBytes } from "node:crypto";
import { chmod, copyFile, mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { z } from "zod";
import type { Config } from "../../platform/config.ts";
import { decrypt, DecryptionError, encrypt } from "../../platform/secrets.ts";
import { LEDGER_FILE } from "../../services/gdpr/deletion-ledger.ts";
import { backupKey } from "./backup-key.ts";
import { SourceNotFound } from "./backup-store.ts";
import { BackupKeyError } from "./sealed-file.ts";

/**
 * What `azora backup config` keeps, relative to DATA_DIR: the secrets (master key, ops token), the GDPR
 * deletion ledger and pgBackRest's configuration. Environment variables belong to the deployment
 * (systemd unit, Kubernetes manifests) and are versioned there, not here.
 */
const CONFIG_FILES = (config: Config) => [
  ...["secrets"].map((dir) => ({ dir: join(config.dataDir, dir) })),
  { file: join(config.paths.state, LEDGER_FILE) },
  { file: join(config.dataDir, "pgbackrest", "pgbackrest.conf") },
];

const bundleSchema = z.object({
  format: z.literal("azora-config-backup-1"),
  id: z.string().regex(/^[0-9TZ]+-config-[0-9a-f]+$/),
  createdAt: z.string(),
  keyId: z.string(),
  keySource: z.enum(["BACKUP_KEY", "AZORA_MASTER_KEY"]),
  sealed: z.string(),
});
const filesSchema = z.array(z.object({ path: z.string(), mode: z.number().int(), data: z.string() }));

export const configRoot = (config: Config) => join(config.paths.backups, "config");

/** Config backups hold secrets: without a key there is no config backup, rather than one in clear. */
export const NO_KEY_FOR_CONFIG =
  "Config backups hold secrets and are always encrypted: set BACKUP_KEY (or AZORA_MASTER_KEY) and keep it somewhere other than this machine.";

async function collect(config: Config): Promise<{ path: string; mode: number; data: string }[]> {
  const files: string[] = [];
  for (const source of CONFIG_FILES(config)) {
    if ("file" in source) files.push(source.file);
    else for (const name of await readdir(source.dir).catch(() => [] as string[])) files.push(join(source.dir, name));
  }
  const found = [];
  for (const file of files) {
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) continue;
    found.push({ path: relative(config.dataDir, file), mode: info.mode & 0o777, data: (await readFile(file)).toString("base64") });
  }
  return found;
}

/** `azora backup config`: seals the secrets and settings files of DATA_DIR into DATA_DIR/backups/config. */
export async function takeConfigBackup(config: Config, now: Date): Promise<{ id: string; path: string; files: string[] }> {
  const key = backupKey(config);
  if (!key) throw new BackupKeyError(NO_KEY_FOR_CONFIG);
  const started = Date.now();
  const files = await collect(config);
  const id = `${now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-config-${randomBytes(3).toString("hex")}`;
  const sealed = encrypt(key.key, gzipSync(JSON.stringify(files)).toString("base64"));
  // How long sealing took, for azora_backup_duration_seconds{kind="config"} (read back by side-backup-status.ts).
  const durationSeconds = (Date.now() - started) / 1000;
  const bundle = { format: "azora-config-backup-1", id, createdAt: now.toISOString(), durationSeconds, keyId: key.id, keySource: key.source, sealed };
  await mkdir(configRoot(config), { recursive: true, mode: 0o700 });
  const path = join(configRoot(config), `${id}.json`);
  await writeFile(`${path}.tmp`, JSON.stringify(bundle), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
  return { id, path, files: files.map((file) => file.path) };
}

/** Config backups, newest first (ids sort by time). */
export async function listConfigBackups(config: Config): Promise<string[]> {
  return (await readdir(configRoot(config)).catch(() => [] as string[])).filter((name) => /-config-[0-9a-f]+\.json$/.test(name)).sort().reverse();
}

/** `latest`, an id, or a path to a config backup file. */
export async function resolveConfigBackup(config: Config, reference: string): Promise<string> {
  if (reference === "latest") {
    const [newest] = await listConfigBackups(config);
    if (!newest) throw new SourceNotFound(`there is no config backup in ${configRoot(config)} yet: take one with azora backup config`);
    return join(configRoot(config), newest);
  }
  if (/^[0-9TZ]+-config-[0-9a-f]+$/.test(reference)) return join(configRoot(config), `${reference}.json`);
  return resolve(reference);
}

/**
 * `azora restore config`: decrypts a config backup and writes its files back into DATA_DIR; each file it
 * replaces is kept beside it as NAME.before-restore-STAMP. The running process reads secrets at start.
 */
export async function restoreConfigBackup(config: Config, path: string, options: { dryRun: boolean; now: Date }): Promise<{ id: string; files: string[]; kept: string[] }> {
  const text = await readFile(path, "utf8").catch(() => {
    throw new SourceNotFound(`${path} does not exist: give a config backup id, a path, or latest (ls ${configRoot(config)})`);
  });
  let bundle: z.infer<typeof bundleSchema>;
  try {
    bundle = bundleSchema.parse(JSON.parse(text));
  } catch {
    throw new SourceNotFound(`${path} is not a config backup (damaged or another file)`);
  }
  const key = backupKey(config);
  if (!key) throw new BackupKeyError(`config backup ${bundle.id} is encrypted: set ${bundle.keySource} to the key it was taken with`);
  if (key.id !== bundle.keyId) throw new BackupKeyError(`config backup ${bundle.id} was encrypted with another key: set ${bundle.keySource} to the key it was taken with`);
  let files: z.infer<typeof filesSchema>;
  try {
    files = filesSchema.parse(JSON.parse(gunzipSync(Buffer.from(decrypt(key.key, bundle.sealed), "base64")).toString("utf8")));
  } catch (error) {
    if (error instanceof DecryptionError) throw new BackupKeyError(`config backup ${bundle.id} cannot be decrypted: wrong key, or the file was changed`);
    throw new SourceNotFound(`config backup ${bundle.id} is damaged`);
  }
  const root = resolve(config.dataDir);
  const targets = files.map((file) => ({ ...file, target: resolve(root, file.path) }));
  // A bundle names files inside DATA_DIR only: a crafted one must not write anywhere else.
  const outside = targets.find((file) => !file.target.startsWith(`${root}/`));
  if (outside) throw new SourceNotFound(`config backup ${bundle.id} names a file outside DATA_DIR (${outside.path}); nothing was restored`);
  const kept: string[] = [];
  if (!options.dryRun) {
    const stamp = options.now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    for (const file of targets) {
      await mkdir(dirname(file.target), { recursive: true, mode: 0o700 });
      const previous = await readFile(file.target).catch(() => undefined);
      const bytes = Buffer.from(file.data, "base64");
      if (previous && !previous.equals(bytes)) {
        await copyFile(file.target, `${file.target}.before-restore-${stamp}`);
        kept.push(relative(root, `${file.target}.before-restore-${stamp}`));
      }
      await writeFile(`${file.target}.tmp`, bytes, { mode: file.mode });
      await chmod(`${file.target}.tmp`, file.mode);
      await rename(`${file.target}.tmp`, file.target);
    }
  }
  return { id: bundle.id, files: files.map((file) => file.path), kept };
}
