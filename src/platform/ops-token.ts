import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Where the ops token is read from: a fixed value, or the generated file that `azora secrets rotate` replaces. */
export type OpsTokenSource = string | (() => string);

/** The token a request is checked against now. */
export const opsTokenNow = (source: OpsTokenSource): string => (typeof source === "function" ? source() : source);

/**
 * The generated ops token (DATA_DIR/secrets/ops-token), followed while the process runs: its modification time
 * is looked at no more than once a second, so a rotated token is accepted by every running process within
 * about a second, without a restart. A token set through AZORA_OPS_TOKEN is fixed (rotate it where it is set).
 */
export function followedOpsToken(secretsDir: string, initial: string, configured: string | undefined): OpsTokenSource {
  if (configured) return configured;
  const file = join(secretsDir, "ops-token");
  let token = initial;
  let seenMtimeMs = -1;
  let checkedAt = 0;
  return () => {
    const now = Date.now();
    if (now - checkedAt < 1_000) return token;
    checkedAt = now;
    try {
      const { mtimeMs } = statSync(file);
      if (mtimeMs !== seenMtimeMs) {
        const read = readFileSync(file, "utf8").trim();
        // A half-written or emptied file is no token: keep the last good one.
        if (read.length >= 32) token = read;
        seenMtimeMs = mtimeMs;
      }
    } catch {
      // The file vanished (a restore in progress, say): keep the last good token.
    }
    return token;
  };
}
