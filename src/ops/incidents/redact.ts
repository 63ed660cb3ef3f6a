import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../../platform/config.ts";

const REDACTED = "[redacted]";

// Names whose value is a credential, in an environment variable or a JSON log field.
const secretVariable = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(_|$)/i;
const secretNames = String.raw`[\w-]*(?:password|passwd|secret|token|authorization|cookie|api[_-]?key|master[_-]?key|private[_-]?key|credentials?)[\w-]*`;
const secretField = new RegExp(String.raw`"(${secretNames})"\s*:\s*"(?:[^"\\]|\\.)*"`, "gi");
// The same field inside a JSON string (a request body or an upstream answer quoted in a message): \"password\":\"…\".
const escapedSecretField = new RegExp(String.raw`\\"(${secretNames})\\"\s*:\s*\\"(?:[^\\]|\\(?!"))*\\"`, "gi");
// `access_token=…`, `client_secret=…`, `db_password=…`: the name may carry a prefix, which \b alone would miss.
const secretAssignment = /\b([\w-]*(?:password|passwd|pwd|secret|token|api_key|apikey))=([^\s&"',;]+)/gi;
// Header or YAML form: `X-Api-Key: …`, `password: …`, `Cookie: sid=…` (the rest of the line).
const secretHeader = /\b([\w-]*(?:password|passwd|secret|api[_-]?key)|cookie|set-cookie)\s*:\s*(?!"|\[redacted\])[^\s"',;][^\r\n"]*/gi;
const privateKeyBlock = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g;

/**
 * Removes every known secret from text bound for an incident archive: the values themselves (master key, ops
 * token, the secrets directory, every credential variable, URL passwords), then anything shaped like one
 * (a JSON field named password or token, `Bearer …`, `password=…`, `user:pass@` in a URL, or Redis's
 * `redis://:pass@` with no user), because a log line written by a bug carries no label.
 */
export async function secretRedactor(config: Config, env: NodeJS.ProcessEnv): Promise<(text: string) => string> {
  const values = new Set<string>();
  const add = (value: string | undefined) => {
    // Short values ("1", "true") would redact half the archive and are no secret anyway.
    if (value && value.trim().length >= 6) values.add(value.trim());
  };
  for (const [name, value] of Object.entries(env)) {
    if (secretVariable.test(name) && !name.endsWith("_PREFIX")) add(value);
    if (value && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
      try {
        add(decodeURIComponent(new URL(value).password));
      } catch {
        // Not a URL after all.
      }
    }
  }
  add(config.masterKey);
  add(config.ops.token);
  for (const file of await readdir(config.paths.secrets).catch(() => [] as string[])) {
    add(await readFile(join(config.paths.secrets, file), "utf8").catch(() => undefined));
  }
  const known = [...values].sort((a, b) => b.length - a.length);
  return (text: string) => {
    let clean = text;
    for (const value of known) clean = clean.split(value).join(REDACTED);
    return clean
      .replace(privateKeyBlock, REDACTED)
      .replace(secretField, (_match, name: string) => `"${name}":"${REDACTED}"`)
      .replace(escapedSecretField, (_match, name: string) => `\\"${name}\\":\\"${REDACTED}\\"`)
      .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`)
      .replace(secretAssignment, `$1=${REDACTED}`)
      .replace(secretHeader, (_match, name: string) => `${name}: ${REDACTED}`)
      .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"]*):[^\s@/"]+@/gi, `$1:${REDACTED}@`);
  };
}
