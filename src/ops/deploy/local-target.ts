import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, openSync, closeSync } from "node:fs";
import { link, mkdir, readFile, rm, symlink, writeFile, rename, open as openFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { CommandIO, PlatformCommand } from "../../platform/command.ts";
import type { Config } from "../../platform/config.ts";
import { pidExists } from "../../platform/process-identity.ts";
import { runPlatformCommand } from "../run-platform-command.ts";
import { trafficCommand, type TrafficArgs } from "../traffic.ts";
import { otherColour, trafficUpstreams, type Colour, type TrafficRoute } from "../../services/gateway/traffic/traffic.repository.ts";
import { goneRequest, type DeployTarget, type LockRelease, type Preview, type RollbackRequest } from "./engine.ts";
import type { DeployState } from "./kubernetes-target.ts";

const run = promisify(execFile);
const packageRoot = fileURLToPath(new URL("../../../", import.meta.url));
type Role = "auth" | "users" | "gateway";

interface ServiceProcess {
  role: Role;
  pid: number;
  url: string;
  ops: string;
}

/** One colour's process set: the new version's auth and users (which take traffic) and a private gateway in front of them (smoke tests). */
interface ProcessSet {
  version: string;
  dir: string;
  /** The commit a git ref named when it was deployed (a branch moves on; the release does not). */
  commit?: string;
  /** A tarball's SHA-256 when it was deployed (a file repacked under the same name is another release). */
  sha256?: string;
  processes: ServiceProcess[];
  running: boolean;
  /** Set when its own deploy failed (smoke tests, a gate) and removed it: a rollback never starts it again. */
  failed?: { step: string; reason: string };
}

/** A release as unpacked: what messages and the status call it, where it is, and the commit of a git ref or the hash of a tarball. */
interface Release {
  name: string;
  dir: string;
  commit?: string;
  sha256?: string;
}

/** How long one process of a set may take to print its URLs, then to answer /health/ready: together the longest step of a local deploy. */
const startTimeoutMs = 120_000;
const readyTimeoutMs = 60_000;

/** The SHA-256 of a file, read as a stream (a release tarball is megabytes). */
async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

interface LocalState {
  sets: Partial<Record<Colour, ProcessSet>>;
  deploy?: DeployState;
}

const isTarball = (version: string) => /\.(tar\.gz|tgz)$/.test(version);

/** The lock file: a line naming the holder (what refusals show), then the id of the deploy or rollback that took it. */
const lockText = (holder: string, id: string) => `${holder} since ${new Date().toISOString()}\nid ${id}\n`;
const lockHolderOf = (text: string) => text.split("\n")[0]!.trim();
const lockIdOf = (text: string) => /^id (\S+)$/m.exec(text)?.[1];

/** A tarball release's name: the file's name without its extension (npm pack's azora-os-1.2.3). */
export function releaseName(version: string): string {
  return isTarball(version) ? basename(version).replace(/\.(tar\.gz|tgz)$/, "") : version;
}

/**
 * A git ref's release: named by the ref and the commit it names now (`v1.2.3@0123456789ab`), so a branch
 * deployed again after new commits is a new release, not the directory its earlier commit left.
 */
export function gitReleaseName(ref: string, commit: string): string {
  return `${ref}@${commit.slice(0, 12)}`;
}

/** The commit a git ref of the repository in the working directory names, or undefined. */
async function commitOf(ref: string): Promise<string | undefined> {
  try {
    return (await run("git", ["rev-parse", "-q", "--verify", `${ref}^{commit}`])).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where `azora rollback` puts all traffic, read from the routes (users decides which colour is live). With a
 * canary share on the live colour (a deploy that died in its canary steps, or an operator's `azora traffic
 * weight`) the live colour is still the stable one and the other holds the canary: the rollback takes the share
 * away (a switch to the live colour, weight 0). Otherwise it is the other colour, live before the last switch.
 */
export function rollbackColours(current: Partial<Record<string, TrafficRoute | null>>): { live: Colour; back: Colour; from: Colour; canary: boolean } {
  const live: Colour = current.users?.active ?? "blue";
  const canary = trafficUpstreams.some((upstream) => {
    const route = current[upstream];
    return !!route && route.active === live && route.canaryWeight > 0;
  });
  return canary ? { live, back: live, from: otherColour(live), canary } : { live, back: otherColour(live), from: live, canary };
}

/** Why VERSION cannot be deployed locally (exit 2: malformed, 1: unknown), or undefined. */
export async function localReleaseProblem(version: string): Promise<{ code: number; message: string } | undefined> {
  if (isTarball(version)) {
    if (existsSync(version)) return undefined;
    return { code: 1, message: `unknown version ${version}: no such tarball (give a packed release, e.g. npm pack's output, or a git ref)` };
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/.test(version) || version.includes("..")) return { code: 2, message: `"${version}" is not a git ref or a tarball path (e.g. v1.2.3 or ./azora-os-1.2.3.tgz)` };
  if (await commitOf(version)) return undefined;
  return { code: 1, message: `unknown version ${version}: no git ref ${version} in ${process.cwd()} (tag the release or git fetch --tags)` };
}

/**
 * The local target: releases unpacked under DATA_DIR/releases/VERSION, each run as a process set of
 * `azora serve auth|users|gateway`, behind the split-mode gateways' traffic routes (docs/deployment.md).
 * The operator's gateways (`azora serve gateway`) stay up throughout; only their routes move.
 */
export function localTarget(config: Config, env: NodeJS.ProcessEnv, io: CommandIO, environment: string): DeployTarget & { status(): Promise<unknown> } {
  const stateFile = join(config.paths.state, "deploy-local.json");
  const lockFile = join(config.paths.state, "deploy-local.lock");
  const requestFile = join(config.paths.state, "deploy-local.rollback");
  const releases = join(config.dataDir, "releases");
  // After a route change, every gateway follows within one poll and finishes what it sent within the deadline.
  const drainMs = 2 * config.traffic.pollMs + config.upstreamPolicy.totalTimeoutMs;
  const quietIo: CommandIO = { out: () => undefined, err: (text) => io.err(`  ${text}`) };

  const readLocal = async (): Promise<LocalState> => {
    try {
      return JSON.parse(await readFile(stateFile, "utf8")) as LocalState;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { sets: {} };
      throw error;
    }
  };
  const writeLocal = async (state: LocalState) => {
    await mkdir(config.paths.state, { recursive: true });
    await writeFile(`${stateFile}.tmp`, JSON.stringify(state, null, 2));
    await rename(`${stateFile}.tmp`, stateFile);
  };
  const update = async (change: (state: LocalState) => void) => {
    const state = await readLocal();
    change(state);
    await writeLocal(state);
  };

  /** Runs `azora traffic …` on the shared routes (an audit row each); the route as written. */
  type Traffic = (args: TrafficArgs) => Promise<any>;
  /**
   * Runs `azora traffic …` commands in one opening of the platform: opening it (a database pool, Redis, the
   * migrations check) costs about as much as the switch itself, so a rollback's read and two switches share one.
   */
  const trafficSession = async <T>(work: (traffic: Traffic) => Promise<T>): Promise<T> => {
    let result: T | undefined;
    const session: PlatformCommand<Record<string, never>> = {
      name: "traffic",
      cacheless: true,
      async run(context, _args, commandIo) {
        result = await work(async (args) => {
          let output = "";
          const code = await trafficCommand.run(context, { ...args, json: true } as TrafficArgs, { ...commandIo, out: (text) => (output += text) });
          if (code !== 0) throw new Error(`azora traffic ${args.action} failed (exit ${code})`);
          return JSON.parse(output);
        });
        return 0;
      },
    };
    const code = await runPlatformCommand(config, session, {}, quietIo);
    if (code !== 0) throw new Error(`azora traffic failed (exit ${code})`);
    return result as T;
  };
  const traffic: Traffic = (args) => trafficSession((run) => run(args));
  const routes = async () => (await traffic({ action: "status" })) as Record<string, TrafficRoute | null>;
  /** The colour live now: the routes' (both upstreams move together), blue when none exists yet. */
  const liveColour = async (): Promise<Colour> => (await routes()).users?.active ?? "blue";

  // A version is resolved once per command: migrate and the process set run the same commit even if the ref moves meanwhile.
  const resolved = new Map<string, Release>();
  const resolveRelease = async (version: string): Promise<Release> => {
    const known = resolved.get(version);
    if (known) return known;
    let release: Release;
    if (isTarball(version)) {
      // Keyed by content, not by file name: a tarball rebuilt under the same name is unpacked anew (ADR 0410).
      const sha256 = await sha256Of(version);
      const name = releaseName(version);
      release = { name, dir: join(releases, `${name}@sha256-${sha256.slice(0, 12)}`), sha256 };
    } else {
      const commit = await commitOf(version);
      if (!commit) throw new Error(`unknown version ${version}: no git ref ${version} in ${process.cwd()}`);
      const name = gitReleaseName(version, commit);
      // A ref's slashes (release/1.2) would nest directories: one directory per release.
      release = { name, dir: join(releases, name.replaceAll("/", "-")), commit };
    }
    resolved.set(version, release);
    return release;
  };

  /** Extracts a release (tarball or git commit) into its directory, once: an unpacked directory is complete or absent. */
  const extract = async (release: Release, source: string) => {
    if (existsSync(join(release.dir, "bin", "azora.js"))) return;
    await mkdir(releases, { recursive: true });
    // Into a scratch directory first, renamed into place at the end: a failed or interrupted unpack leaves no
    // half release that a later deploy would take for a whole one.
    const scratch = `${release.dir}.unpacking-${process.pid}`;
    await rm(scratch, { recursive: true, force: true });
    await mkdir(scratch, { recursive: true });
    try {
      if (release.commit) {
        // Through a file, not a pipe: a failing `git archive` must fail the unpack, not hand tar an empty stream.
        const archive = `${scratch}.tar`;
        try {
          await run("git", ["archive", "--format=tar", `--output=${archive}`, release.commit]);
          await run("tar", ["-xf", archive, "-C", scratch]);
        } finally {
          await rm(archive, { force: true });
        }
      } else {
        // npm pack puts everything under package/.
        await run("tar", ["-xzf", resolve(source), "-C", scratch, "--strip-components=1"]);
      }
      if (!existsSync(join(scratch, "bin", "azora.js"))) throw new Error(`${source} does not contain bin/azora.js: not an Azora OS release`);
      await rm(release.dir, { recursive: true, force: true });
      await rename(scratch, release.dir);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  };

  const unpack = async (version: string): Promise<Release> => {
    const release = await resolveRelease(version);
    const { dir } = release;
    await extract(release, version);
    // A release runs on the installed dependencies unless it brings its own (npm ci in its directory).
    const [own, installed] = await Promise.all([readFile(join(dir, "package-lock.json"), "utf8").catch(() => ""), readFile(join(packageRoot, "package-lock.json"), "utf8").catch(() => "")]);
    if (!existsSync(join(dir, "node_modules"))) {
      if (own && installed && JSON.stringify(JSON.parse(own).packages ?? {}) !== JSON.stringify(JSON.parse(installed).packages ?? {})) {
        throw new Error(`${version} needs other dependencies than the installed ones: run npm ci --omit=dev in ${dir}, then deploy again`);
      }
      await symlink(join(packageRoot, "node_modules"), join(dir, "node_modules"), "dir");
    }
    return release;
  };

  /** Starts one `azora serve ROLE` of a release, detached (it outlives this command), and waits for its URLs. */
  const serve = async (dir: string, colour: Colour, role: Role, extra: Record<string, string>): Promise<ServiceProcess> => {
    const logDir = join(releases, "logs");
    await mkdir(logDir, { recursive: true });
    const logPath = join(logDir, `${colour}-${role}.out`);
    const fd = openSync(logPath, "w");
    const child = spawn(process.execPath, [join(dir, "bin", "azora.js"), "serve", role], {
      cwd: dir,
      env: { ...env, ...extra, PORT: "0", OPS_PORT: "0", LOG_STDOUT: "false" },
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    child.unref();
    const label = role === "gateway" ? "API" : role === "auth" ? "Auth" : "Users";
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (interruption.signal.aborted) {
        process.kill(child.pid!, "SIGTERM");
        throw new Error(`${role} of ${basename(dir)}: start interrupted`);
      }
      const text = await readFile(logPath, "utf8");
      const url = text.match(new RegExp(`${label}:\\s+(http://\\S+)`))?.[1];
      const ops = text.match(/Ops:\s+(http:\/\/\S+)/)?.[1];
      if (url && ops) return { role, pid: child.pid!, url, ops };
      if (child.exitCode !== null || !pidExists(child.pid!)) throw new Error(`${role} of ${basename(dir)} exited while starting: ${text.trim().split("\n").slice(-3).join(" / ")}`);
      await new Promise((done) => setTimeout(done, 200));
    }
    process.kill(child.pid!, "SIGTERM");
    throw new Error(`${role} of ${basename(dir)} did not start within ${startTimeoutMs / 1000} s (see ${logPath})`);
  };

  const ready = async (service: ServiceProcess) => {
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline && !interruption.signal.aborted) {
      const response = await fetch(new URL("/health/ready", service.ops)).catch(() => undefined);
      if (response?.ok) return;
      await new Promise((done) => setTimeout(done, 250));
    }
    throw new Error(interruption.signal.aborted ? `${service.role} at ${service.url}: wait for readiness interrupted` : `${service.role} at ${service.url} is not ready after ${readyTimeoutMs / 1000} s`);
  };

  const startSet = async (release: Release, colour: Colour): Promise<ProcessSet> => {
    const { dir } = release;
    const set: ProcessSet = { version: release.name, dir, ...(release.commit ? { commit: release.commit } : {}), ...(release.sha256 ? { sha256: release.sha256 } : {}), processes: [], running: true };
    // Recorded as it grows, so a failed start still leaves its processes known (and stopped by the rollback).
    const record = () => update((state) => void (state.sets[colour] = set));
    try {
      const auth = await serve(dir, colour, "auth", {});
      set.processes.push(auth);
      await record();
      const users = await serve(dir, colour, "users", { AUTH_URL: auth.url });
      set.processes.push(users);
      await record();
      const gateway = await serve(dir, colour, "gateway", { AUTH_URL: auth.url, USERS_URL: users.url, TRAFFIC_ROUTES: "ignore" });
      set.processes.push(gateway);
      await record();
      for (const service of set.processes) await ready(service);
    } catch (error) {
      await stopSet(set);
      await record();
      throw error;
    }
    return set;
  };

  const stopSet = async (set: ProcessSet | undefined) => {
    if (!set) return;
    for (const service of set.processes) if (pidExists(service.pid)) process.kill(service.pid, "SIGTERM");
    const deadline = Date.now() + config.http.shutdownTimeoutMs + 5_000;
    while (set.processes.some((service) => pidExists(service.pid)) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 200));
    for (const service of set.processes) if (pidExists(service.pid)) process.kill(service.pid, "SIGKILL");
    set.running = false;
  };

  const targetsOf = (set: ProcessSet, role: "auth" | "users") => set.processes.filter((service) => service.role === role).map((service) => service.url);
  const drain = () => new Promise((done) => setTimeout(done, drainMs));
  /** Makes `colour` live for both upstreams (canary weight 0); a no-op for an upstream already there. */
  const switchTo = (colour: Colour) =>
    trafficSession(async (run) => {
      const current = (await run({ action: "status" })) as Record<string, TrafficRoute | null>;
      for (const upstream of trafficUpstreams) {
        const route = current[upstream];
        if (route && (route.active !== colour || route.canaryWeight > 0)) await run({ action: "switch", upstream, to: colour });
      }
    });

  const readRequest = async (): Promise<RollbackRequest | undefined> => {
    try {
      return JSON.parse(await readFile(requestFile, "utf8")) as RollbackRequest;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  };

  // Known once startPreview has begun; before that (a failed migrate) there is nothing to undo, and the live
  // colour must not be guessed: a guess of "green" while green is live would switch to the stopped blue set
  // and stop the live one.
  let newColour: Colour | undefined;
  // Whether a weight or a switch may have sent public traffic to the new colour: only then is a drain owed before it stops.
  let trafficMoved = false;
  // SIGINT/SIGTERM: process starts, readiness waits and the migrate child stop waiting; the engine undoes the rest.
  const interruption = new AbortController();
  const previewColour = (): Colour => {
    if (!newColour) throw new Error("no preview has been started");
    return newColour;
  };

  return {
    where: `local ${environment} (${config.dataDir})`,
    staleLockHint: `remove ${lockFile}`,
    longestStepSeconds: (startTimeoutMs + readyTimeoutMs) / 1000,
    interrupt: () => interruption.abort(),
    async currentVersion() {
      const state = await readLocal();
      return state.sets[await liveColour()]?.version ?? "the configured services (AUTH_URL, USERS_URL)";
    },
    async lock(holder, id) {
      await mkdir(config.paths.state, { recursive: true });
      try {
        const handle = await openFile(lockFile, "wx");
        await handle.writeFile(lockText(holder, id));
        await handle.close();
        return { ok: true };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        return { ok: false, holder: lockHolderOf(await readFile(lockFile, "utf8").catch(() => "unknown")) };
      }
    },
    // Removed only while it carries this id: a lock removed as stale and taken by the next deploy is that deploy's.
    // The read and the removal are two steps, but between them only a person can replace the file (removing it by
    // hand while this process runs, and another deploy taking it in that instant).
    async unlock(id): Promise<LockRelease> {
      const text = await readFile(lockFile, "utf8").catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return undefined;
        throw error;
      });
      if (text === undefined) return { released: false };
      if (lockIdOf(text) !== id) return { released: false, holder: lockHolderOf(text) };
      await rm(lockFile, { force: true });
      return { released: true };
    },
    readState: async () => (await readLocal()).deploy,
    writeState: (deploy) => update((state) => void (state.deploy = deploy)),
    async migrate(version) {
      const { dir } = await unpack(version);
      const { stdout } = await run(process.execPath, [join(dir, "bin", "azora.js"), "migrate"], { cwd: dir, env: { ...env, LOG_STDOUT: "false" }, signal: interruption.signal });
      for (const line of stdout.trim().split("\n").filter(Boolean)) io.err(`  ${line}`);
    },
    async startPreview(version) {
      const colour = otherColour(await liveColour());
      newColour = colour;
      const state = await readLocal();
      // The colour being replaced held an older release that is no longer warm-needed: its processes go first.
      await stopSet(state.sets[colour]);
      const set = await startSet(await unpack(version), colour);
      // The gateways learn the new targets now; they take traffic only with a canary weight or a switch.
      for (const upstream of trafficUpstreams) await traffic({ action: "targets", upstream, [colour]: targetsOf(set, upstream) });
    },
    async openPreview(): Promise<Preview> {
      const set = (await readLocal()).sets[previewColour()]!;
      const gateway = set.processes.find((service) => service.role === "gateway")!;
      const services = set.processes.filter((service) => service.role !== "gateway");
      return {
        baseUrl: gateway.url,
        // What the new version's services answered on the API: its own figures, public traffic and smoke tests alike.
        counts: async () => {
          const totals = { total: 0, errors: 0 };
          for (const service of services) {
            const response = await fetch(new URL("/metrics", service.ops), { signal: AbortSignal.timeout(10_000) });
            if (!response.ok) throw new Error(`metrics of ${service.role} answered ${response.status}`);
            for (const line of (await response.text()).split("\n")) {
              if (!line.startsWith("http_requests_total{") || !/route="\/api\//.test(line)) continue;
              const value = Number(line.slice(line.lastIndexOf(" ") + 1));
              totals.total += value;
              if (/status="5\d\d"/.test(line)) totals.errors += value;
            }
          }
          return totals;
        },
        close: () => undefined,
      };
    },
    beginCanary: async () => undefined,
    async canaryStep(percent) {
      trafficMoved = true;
      for (const upstream of trafficUpstreams) await traffic({ action: "weight", upstream, percent });
    },
    switchToPreview() {
      trafficMoved = true;
      return switchTo(previewColour());
    },
    // The old colour has been kept warm; now it stops, once every gateway has followed and finished with it. On the
    // first deploy the old colour is the configured services, no set of ours: nothing to drain or stop.
    async promote() {
      const old = otherColour(previewColour());
      const state = await readLocal();
      const set = state.sets[old];
      if (!set?.processes.some((service) => pidExists(service.pid))) {
        io.err(`  no process set of ours was live before (${set ? `${set.version}'s processes are gone` : "the configured services"}): nothing to drain or stop`);
        return;
      }
      await drain();
      await stopSet(set);
      await writeLocal(state);
    },
    // Before the new set started (a failed migrate) traffic and the live set were never touched: nothing to undo.
    async switchBack() {
      if (newColour) await switchTo(otherColour(newColour));
    },
    async removePreview() {
      const colour = newColour;
      if (!colour) return;
      // Public traffic reached the set only after a weight or a switch; before that (smoke tests failed) nobody is to drain.
      if (trafficMoved) await drain();
      const state = await readLocal();
      const set = state.sets[colour];
      await stopSet(set);
      // The engine wrote the outcome before this call: a release that failed by itself is marked, so that a
      // later `azora rollback` (the other colour) does not start it again and send it every request untested.
      // An operator's rollback request or interrupt is a judgement on the deploy, not on the release.
      if (set && state.deploy?.phase === "rolled_back" && !state.deploy.requestedBy && !state.deploy.interrupted) set.failed = { step: state.deploy.step, reason: state.deploy.reason ?? "unknown" };
      await writeLocal(state);
    },
    async requestRollback(request) {
      await mkdir(config.paths.state, { recursive: true });
      // Written whole, then linked into place: the link is the exclusive step, and no reader sees half a file.
      const draft = `${requestFile}.${process.pid}.tmp`;
      await writeFile(draft, JSON.stringify(request));
      try {
        await link(draft, requestFile);
        return { ok: true };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        return { ok: false, existing: (await readRequest()) ?? goneRequest };
      } finally {
        await rm(draft, { force: true });
      }
    },
    readRollbackRequest: () => readRequest(),
    // By id only while it is that one: a create is exclusive, so no other request can replace it between the read
    // and the removal; only a removal by hand could.
    async clearRollbackRequest(id) {
      if (id && (await readRequest())?.id !== id) return;
      await rm(requestFile, { force: true });
    },
    // A switch back while the previous colour is warm; otherwise its release is started again first.
    async rollback() {
      // While the previous set is warm this is one opening of the platform: read the routes, switch both upstreams.
      const state = await readLocal();
      const outcome = await trafficSession(async (run) => {
        const current = (await run({ action: "status" })) as Record<string, TrafficRoute | null>;
        const { back, from, canary } = rollbackColours(current);
        const previous = state.sets[back];
        if (!current.users || current.users[back].length === 0) throw new Error(`nothing to roll back to: no ${back} targets (no deploy has run here yet)`);
        if (previous?.failed) {
          throw new Error(
            `nothing to roll back to: ${back} holds ${previous.version}, which failed its own deploy at "${previous.failed.step}" (${previous.failed.reason}) and was removed; the release before it is no longer kept. Nothing was changed: deploy the version you want instead.`,
          );
        }
        const warm = !previous || previous.processes.every((service) => pidExists(service.pid));
        if (warm) {
          for (const upstream of trafficUpstreams) {
            const route = current[upstream];
            if (route && (route.active !== back || route.canaryWeight > 0)) await run({ action: "switch", upstream, to: back });
          }
        }
        return { from, back, previous, warm, canary };
      });
      const { from, back, previous, warm, canary } = outcome;
      // A canary left by a deploy that died in its steps: its share is taken away above, and its processes
      // (which no route sends to any more) stop once every gateway has followed.
      const leftover = canary ? state.sets[from] : undefined;
      if (leftover?.processes.some((service) => pidExists(service.pid))) {
        io.err(`  stopping the canary's process set (${leftover.version}) once the gateways have followed`);
        await drain();
        await stopSet(leftover);
        await update((latest) => void (latest.sets[from] = leftover));
      }
      if (previous && !warm) {
        io.err(`  ${previous.version} is no longer warm: starting it again`);
        await stopSet(previous);
        // Its own directory, as deployed: the ref it came from may name another commit by now.
        if (!existsSync(join(previous.dir, "bin", "azora.js"))) throw new Error(`${previous.version} cannot be started again: ${previous.dir} is gone (deploy it again instead)`);
        const set = await startSet({ name: previous.version, dir: previous.dir, ...(previous.commit ? { commit: previous.commit } : {}), ...(previous.sha256 ? { sha256: previous.sha256 } : {}) }, back);
        await trafficSession(async (run) => {
          for (const upstream of trafficUpstreams) await run({ action: "targets", upstream, [back]: targetsOf(set, upstream) });
          for (const upstream of trafficUpstreams) await run({ action: "switch", upstream, to: back });
        });
      }
      return { before: state.sets[from]?.version ?? "the configured services", after: previous?.version ?? "the configured services (AUTH_URL, USERS_URL)" };
    },
    async status() {
      const state = await readLocal();
      const lock = existsSync(lockFile) ? lockHolderOf(await readFile(lockFile, "utf8")) : null;
      const sets = Object.fromEntries(
        Object.entries(state.sets).map(([colour, set]) => [colour, { version: set.version, ...(set.commit ? { commit: set.commit } : {}), ...(set.sha256 ? { sha256: set.sha256 } : {}), running: set.processes.length > 0 && set.processes.every((service) => pidExists(service.pid)), ...(set.failed ? { failed: set.failed } : {}), processes: set.processes }]),
      );
      const { live, back } = rollbackColours(await routes());
      return { target: "local", live, rollbackTo: back, sets, lock, lastDeploy: state.deploy ?? null };
    },
  };
}
