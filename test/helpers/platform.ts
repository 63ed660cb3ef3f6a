import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/platform/config.ts";
import { platformCommands } from "../../src/ops/commands.ts";
import { startPlatform, type RunningPlatform } from "../../src/runtime.ts";
import type { Clock } from "../../src/platform/clock.ts";
import type { Backend } from "./backends.ts";
import { seedEmbeddedCluster } from "./embedded-template.ts";

export interface TestPlatform {
  config: Config;
  running: RunningPlatform;
  baseUrl: string;
  opsUrl: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Rate limits and password-guessing budgets far above any suite's traffic: suites about other behaviour send
 * hundreds of requests, wrong passwords included, from one IP. The rate-limit and test/security suites set their own.
 */
export const unlimited = {
  RATE_LIMIT_AUTH: "10000000",
  RATE_LIMIT_READ: "10000000",
  RATE_LIMIT_WRITE: "10000000",
  LOGIN_FREE_FAILURES: "1000",
  LOGIN_ACCOUNT_IP_FAILURES: "10000",
  LOGIN_IP_DAILY_FAILURES: "10000000",
  LOGIN_GLOBAL_FAILURES_PER_MINUTE: "10000000",
};

/** Loads config the way the CLI does, from an env built for the test (ephemeral ports, a temp data dir). */
export function testConfig(env: Record<string, string>): Config {
  // The backup plan stays off: a suite that runs across 02:00 must not find a backup it did not take.
  const result = loadConfig({ HOST: "127.0.0.1", PORT: "0", OPS_PORT: "0", LOG_STDOUT: "false", LOG_LEVEL: "info", BACKUP_SCHEDULE: "off", ...unlimited, ...env });
  if (!result.ok) throw new Error(`bad test config: ${result.problems.join("; ")}`);
  return result.config;
}

export async function makeDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "azora-test-"));
}

/**
 * Before a platform starts in process on a new DATA_DIR: on the embedded default, an empty cluster copied from
 * a template instead of initdb in every suite (embedded-template.ts). A data directory that has one is left alone.
 */
export async function prepareDataDir(config: Config): Promise<void> {
  if (!config.database.url) await seedEmbeddedCluster(config.paths.pg);
}

/**
 * The environment of a split-mode test (`azora serve` processes on one database): a fresh data directory,
 * loopback listeners on free ports, and the master key and ops token every process shares, as a
 * Kubernetes Secret would provide them. `label` makes the secrets the test's own; `extra` adds settings.
 */
export async function splitModeEnv(provisioned: Record<string, string>, label: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    ...provisioned,
    DATA_DIR: await makeDataDir(),
    HOST: "127.0.0.1",
    PORT: "0",
    OPS_PORT: "0",
    AZORA_MASTER_KEY: `${label}-test-master-key-0123456789abcdef`,
    AZORA_OPS_TOKEN: `${label}-test-ops-token-0123456789abcdef`,
    ...extra,
  };
}

/**
 * The two ways `azora up` can reach its services: in-process (its default) and over loopback HTTP (the proxy
 * `azora serve` uses between processes). The suites about the public contract run in both and must give
 * the same answers, headers and metrics (docs/adr/0195); the others run the default.
 */
export type Composition = "in-process" | "proxy";

export interface TestPlatformOptions {
  /** The platform's clock (tests that jump time). */
  clock?: Clock;
  /** A database the caller provisioned and disposes of itself (platforms sharing one). */
  provisioned?: { env: Record<string, string>; dispose(): Promise<void> };
  /** How the gateway reaches the services (default: in-process, as `azora up`). */
  composition?: Composition;
}

/** An installation (data directory, database) that platform processes start on, one after another as restarts. */
export interface TestInstallation {
  config: Config;
  dataDir: string;
  /** Starts the whole platform in this process on ephemeral ports, as `azora up` does. */
  start(): Promise<RunningPlatform>;
  /** Removes the database and the data directory; stop the running platform first. */
  dispose(): Promise<void>;
}

/** Prepares an installation on `backend` without starting it: for a test that stops the platform and starts it again. */
export async function provisionTestPlatform(backend: Backend, extraEnv: Record<string, string> = {}, options: TestPlatformOptions = {}): Promise<TestInstallation> {
  const dataDir = await makeDataDir();
  let provisioned = options.provisioned;
  const dispose = async () => {
    if (!options.provisioned) await provisioned?.dispose();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    provisioned ??= await backend.provision();
    const config = testConfig({ DATA_DIR: dataDir, ...provisioned.env, ...extraEnv });
    await prepareDataDir(config);
    return {
      config,
      dataDir,
      start: () =>
        startPlatform(config, { roles: ["gateway", "auth", "users"], commands: platformCommands,
          ...(options.clock ? { clock: options.clock } : {}),
          ...(options.composition ? { composition: options.composition } : {}),
        }),
      dispose,
    };
  } catch (error) {
    // The caller gets no installation to dispose of: what was made for it so far goes now.
    await dispose();
    throw error;
  }
}

/** Starts the whole platform in this process on ephemeral ports, as `azora up` does. */
export async function startTestPlatform(backend: Backend, extraEnv: Record<string, string> = {}, options: TestPlatformOptions = {}): Promise<TestPlatform> {
  const installation = await provisionTestPlatform(backend, extraEnv, options);
  // A platform that fails to start still gives back its database, key prefix and data directory.
  const running = await installation.start().catch(async (error: unknown) => {
    await installation.dispose().catch(() => undefined);
    throw error;
  });
  return {
    config: installation.config,
    running,
    baseUrl: running.urls.gateway ?? "",
    opsUrl: running.urls.ops,
    dataDir: installation.dataDir,
    async stop() {
      await running.stop();
      await installation.dispose();
    },
  };
}
