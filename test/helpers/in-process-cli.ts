import { main } from "../../src/cli.ts";

/** Runs the real `azora` entry point in this process, its two streams captured: cheap enough for many cases. */
export async function azora(args: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const io = { out: (text: string) => void (stdout += `${text}\n`), err: (text: string) => void (stderr += `${text}\n`) };
  const code = await main(["node", "azora", ...args], io, { LOG_STDOUT: "false", ...env });
  return { code, stdout, stderr };
}
