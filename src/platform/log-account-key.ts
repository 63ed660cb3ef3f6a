import { createHmac } from "node:crypto";
import { deriveKey } from "./secrets.ts";

/**
 * A stable, keyed stand-in for an email address in log lines (`account` field). Log lines show emails
 * masked ("j***@example.com"), which many addresses share, so a detector cannot tell one account from
 * another by them; an unknown address has no user id either. The key comes from the master secret, so the
 * value cannot be reversed by hashing a list of addresses, yet every line about one address carries the same
 * value. 64 bits: collisions are negligible for the accounts of one deployment.
 */
export function logAccountKey(masterSecret: string, email: string): string {
  return createHmac("sha256", deriveKey(masterSecret, "log-account-key")).update(email.trim().toLowerCase()).digest("hex").slice(0, 16);
}

/** The same function with the key derived once (it runs on every login). */
export function logAccountKeyer(masterSecret: string): (email: string) => string {
  const key = deriveKey(masterSecret, "log-account-key");
  return (email) => createHmac("sha256", key).update(email.trim().toLowerCase()).digest("hex").slice(0, 16);
}
