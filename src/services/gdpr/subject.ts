import { createHash } from "node:crypto";

/**
 * How an erased person is named from then on. The subject hash is the SHA-256 of their id: ids are random
 * UUIDs, so the hash cannot be turned back into the id by guessing, yet a restored database can still find
 * the person's rows by it. The pseudonym is 36 characters, as long as a UUID, so it can replace the id in
 * place in log files.
 */
export function subjectHashOf(userId: string): string {
  return createHash("sha256").update(userId.toLowerCase(), "utf8").digest("hex");
}

export function pseudonymOf(subjectHash: string): string {
  return `erased-${subjectHash.slice(0, 29)}`;
}
