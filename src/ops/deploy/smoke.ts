import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const packageRoot = fileURLToPath(new URL("../../../", import.meta.url));

/** Runs `npm run test:smoke:staging` against baseUrl (the new version, before it takes traffic); true when it passes. */
export function runSmokeTests(baseUrl: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn("npm", ["run", "-s", "test:smoke:staging"], { cwd: packageRoot, env: { ...env, AZORA_BASE_URL: baseUrl }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", () => resolve(false));
    child.on("close", (code) => {
      const summary = output.split("\n").filter((line) => /Tests\s+\d|FAIL|✗|×/.test(line)).slice(0, 10);
      for (const line of summary) log(`  smoke: ${line.trim()}`);
      resolve(code === 0);
    });
  });
}
