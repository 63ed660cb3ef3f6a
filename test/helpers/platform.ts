import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/platform/config.ts";
import { platformCommands } from "../../src/ops/commands.ts";
import { startPlatform, type RunningPlatform } from "../../src/runtime.ts";
import type { Backend } from "./backends.ts";

export interface TestPlatform {
  config: Config;
  running: RunningPlatform;
  baseUrl: string;
  opsUrl: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Loads config the way the CLI does, from an env built for the test (ephemeral ports, a temp data dir). */
export function testConfig(env: Record<string, string>): Config {
  const result = loadConfig({ HOST: "127.0.0.1", PORT: "0", OPS_PORT: "0", LOG_STDOUT: "false", LOG_LEVEL: "info", ...env });
  if (!result.ok) throw new Error(`bad test config: ${result.problems.join("; ")}`);
  return result.config;
}

export async function makeDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "azora-test-"));
}

/** Starts the whole platform in this process on ephemeral ports, as `azora up` does. */
export async function startTestPlatform(backend: Backend, extraEnv: Record<string, string> = {}): Promise<TestPlatform> {
  const dataDir = await makeDataDir();
  const provisioned = await backend.provision();
  const config = testConfig({ DATA_DIR: dataDir, ...provisioned.env, ...extraEnv });
  const running = await startPlatform(config, { roles: ["gateway", "auth", "users"], commands: platformCommands });
  return {
    config,
    running,
    baseUrl: running.urls.gateway ?? "",
    opsUrl: running.urls.ops,
    dataDir,
    async stop() {
      await running.stop();
      await provisioned.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
