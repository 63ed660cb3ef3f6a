import type { Config } from "../../platform/config.ts";
import { deriveKey } from "../../platform/secrets.ts";
import { keyFingerprint } from "./sealed-file.ts";

export interface BackupKey {
  key: Buffer;
  source: "BACKUP_KEY" | "AZORA_MASTER_KEY";
  id: string;
}

/**
 * The key backups are sealed with: BACKUP_KEY, else one derived from an AZORA_MASTER_KEY set by the
 * operator. A master key generated into DATA_DIR/secrets is never used: it would be lost with the very
 * disk the backups exist to replace (docs/adr/0070).
 */
export function backupKey(config: Config): BackupKey | undefined {
  const secret = config.backup.key ?? config.masterKey;
  if (!secret) return undefined;
  const key = deriveKey(secret, "backup");
  return { key, source: config.backup.key ? "BACKUP_KEY" : "AZORA_MASTER_KEY", id: keyFingerprint(key) };
}
