import { execFileSync } from "node:child_process";
import { Command, InvalidArgumentError, Option } from "commander";
import type { CommandIO } from "../platform/command.ts";
import { loadConfig, type Config } from "../platform/config.ts";
import type { DeployOptions } from "./deploy/engine.ts";
import type { GatesFile, PromqlGate } from "./deploy/promql-gates.ts";

export const environments = ["staging", "production"] as const;

export interface DeployCliHooks {
  io: CommandIO;
  env: NodeJS.ProcessEnv;
  setExitCode: (code: number) => void;
}

const seconds = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) > 86_400) throw new InvalidArgumentError(`${name} takes whole seconds (0 to 86400)`);
  return Number(value);
};
const percent = (value: string) => {
  const number = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || number > 100) throw new InvalidArgumentError("takes a percentage from 0 to 100");
  return number;
};

/**
 * The PromQL gates for a deploy with their failure budget (the command line's --measurements and
 * --failure-limit over the file's), or what is wrong with the URL, the file or the budget (a usage error).
 */
async function promqlGatesOf(
  prometheusUrl: string,
  file: string | undefined,
  flags: { measurements?: number; failureLimit?: number },
): Promise<{ prometheusUrl: string; gates: PromqlGate[]; measurements: number; failureLimit: number } | Error> {
  if (!URL.canParse(prometheusUrl) || !/^https?:$/.test(new URL(prometheusUrl).protocol)) return new Error(`--prometheus-url "${prometheusUrl}" is not an http(s) URL (e.g. http://prometheus:9090)`);
  const { loadGatesFile, SHIPPED_GATES_FILE } = await import("./deploy/promql-gates.ts");
  let loaded: GatesFile;
  try {
    loaded = await loadGatesFile(file ?? SHIPPED_GATES_FILE);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return new Error(code === "ENOENT" ? `--gates ${file}: no such file (the shipped gates are deployment/monitoring/prometheus/deploy-gates.yml)` : (error as Error).message);
  }
  const measurements = flags.measurements ?? loaded.measurements ?? 1;
  const failureLimit = flags.failureLimit ?? loaded.failureLimit ?? 0;
  if (failureLimit >= measurements) {
    return new Error(`A failure limit of ${failureLimit} with ${measurements} measurement(s) per window would pass a gate that never passed: give --failure-limit below --measurements (e.g. --measurements 5 --failure-limit 1).`);
  }
  return { prometheusUrl, gates: loaded.gates, measurements, failureLimit };
}

const count = (name: string, min: number) => (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > 60) throw new InvalidArgumentError(`${name} takes a whole number from ${min} to 60`);
  return Number(value);
};

/** A release is a git tag (CI builds and pushes its images when the tag is pushed, as the guide says). */
function releaseProblem(version: string): { code: number; message: string } | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(version)) return { code: 2, message: `"${version}" is not a release tag (letters, digits, ".", "_", "-"; e.g. v1.2.3)` };
  try {
    execFileSync("git", ["rev-parse", "-q", "--verify", `refs/tags/${version}^{commit}`], { stdio: "ignore" });
    return undefined;
  } catch {
    return { code: 1, message: `unknown version ${version}: no git tag ${version} in ${process.cwd()} (tag the release, push it, let CI build the images, then git fetch --tags)` };
  }
}

/** `azora deploy blue-green|canary|status` and `azora rollback`, on the kubernetes target. */
export function registerDeployCommands(program: Command, hooks: DeployCliHooks): void {
  const { io, env, setExitCode } = hooks;
  const environment = () => new Command().createArgument("environment", "staging or production").choices(environments);
  const targetOf = async (name: string) => {
    const { kubernetesTarget } = await import("./deploy/kubernetes-target.ts");
    const target = kubernetesTarget((await import("./deploy/kubectl.ts")).kubectl(`azora-${name}`, env), io.err);
    if (await target.reachable()) return target;
    io.err(`Namespace azora-${name} is not reachable with kubectl (check kubectl config current-context, and that the overlay was applied: docs/deployment.md).`);
    return undefined;
  };
  const local = () =>
    new Option("--target <target>", "kubernetes (kubectl against the overlay) or local (process sets of azora serve behind the split-mode gateways' traffic routes)")
      .choices(["kubernetes", "local"])
      // AZORA_DEPLOY_TARGET=local lets the guide's scripts (which take only ENV and VERSION) drive the local target.
      .default(env.AZORA_DEPLOY_TARGET === "local" ? "local" : "kubernetes");
  const loadedConfig = (): Config | undefined => {
    const result = loadConfig(env);
    if (result.ok) return result.config;
    io.err(`Configuration is invalid: ${result.problems.join("; ")}`);
    return undefined;
  };
  /** The local target works on the shared PostgreSQL of the split-mode services, like `azora serve`. */
  const localOf = async (name: string) => {
    const config = loadedConfig();
    if (!config) return undefined;
    if (!config.database.url) {
      io.err("The local target moves the traffic routes of split-mode gateways (azora serve gateway), which need DATABASE_URL: set it as for azora serve.");
      return undefined;
    }
    return { config, target: (await import("./deploy/local-target.ts")).localTarget(config, env, io, name) };
  };
  /** Audit rows go wherever the platform's database is; a deploy outside any installation still reports why none was written. */
  const audit: DeployOptions["audit"] = async (entry) => {
    const config = loadedConfig();
    if (!config) throw new Error("the configuration is invalid");
    const problems: string[] = [];
    const code = await (await import("./run-platform-command.ts")).runPlatformCommand(config, (await import("./deploy/deploy-audit.ts")).deployAuditCommand, entry, { out: () => undefined, err: (text) => problems.push(text) });
    if (code !== 0) throw new Error(problems.join(" ") || `exit ${code}`);
  };

  const deployCommand = program.command("deploy").description("Zero-downtime releases on Kubernetes: blue-green or canary, gated on smoke tests and error rates, rolled back automatically.");
  for (const strategy of ["blue-green", "canary"] as const) {
    deployCommand
      .command(strategy)
      .description(
        strategy === "blue-green"
          ? "Start VERSION beside the running one, smoke-test and analyse it, switch all traffic, analyse again, keep the old version warm, then promote."
          : "Like blue-green, but traffic moves 10, 25, 50 then 100 % with an analysis at each step (kubernetes: by the gateway's pod count; local: the gateway's traffic weights).",
      )
      .addArgument(environment())
      .argument("<version>", "release tag, e.g. v1.2.3 (images azora/api-gateway:VERSION etc.)")
      .addOption(local())
      .addOption(new Option("--analysis-seconds <s>", "length of each analysis window").argParser(seconds("--analysis-seconds")).default(60))
      .addOption(new Option("--keep-warm-seconds <s>", "how long the old version keeps running after the switch").argParser(seconds("--keep-warm-seconds")).default(300))
      .addOption(new Option("--max-error-percent <p>", "highest share of 5xx answers a gate accepts (without --prometheus-url)").argParser(percent).default(1))
      .addOption(new Option("--prometheus-url <url>", "analyse with the PromQL gates of --gates against this Prometheus (default PROMETHEUS_URL)").default(env.PROMETHEUS_URL || undefined))
      .option("--gates <file>", "PromQL gates file (default: the shipped deployment/monitoring/prometheus/deploy-gates.yml)")
      .addOption(new Option("--measurements <n>", "PromQL measurements per analysis window (default: the gates file's measurements, or 1)").argParser(count("--measurements", 1)))
      .addOption(new Option("--failure-limit <n>", "failed PromQL measurements a gate may have per window, below --measurements (default: the gates file's failureLimit, or 0)").argParser(count("--failure-limit", 0)))
      .option("--dry-run", "check the input and the cluster, print the plan, change nothing", false)
      .action(async (name: string, version: string, options: { target: string; analysisSeconds: number; keepWarmSeconds: number; maxErrorPercent: number; prometheusUrl?: string; gates?: string; measurements?: number; failureLimit?: number; dryRun: boolean }) => {
        const { analysisSeconds, keepWarmSeconds, maxErrorPercent } = options;
        if (!options.prometheusUrl && (options.measurements !== undefined || options.failureLimit !== undefined)) {
          io.err("--measurements and --failure-limit set the failure budget of the PromQL gates: give --prometheus-url (or PROMETHEUS_URL) too.");
          return setExitCode(2);
        }
        const promql = options.prometheusUrl ? await promqlGatesOf(options.prometheusUrl, options.gates, options) : undefined;
        if (promql instanceof Error) {
          io.err(promql.message);
          return setExitCode(2);
        }
        const deployOptions: DeployOptions = { analysisSeconds, keepWarmSeconds, maxErrorPercent, promql, smoke: async (baseUrl) => (await import("./deploy/smoke.ts")).runSmokeTests(baseUrl, env, io.err), audit };
        if (options.target === "local") {
          const problem = await (await import("./deploy/local-target.ts")).localReleaseProblem(version);
          if (problem) {
            io.err(problem.message);
            return setExitCode(problem.code);
          }
          const opened = await localOf(name);
          if (!opened) return setExitCode(1);
          if (options.dryRun) {
            const status = (await opened.target.status()) as { live: string; lock: string | null };
            io.out(`Would deploy ${version} to ${opened.target.where} (${strategy}) over ${await opened.target.currentVersion()} (${status.live} live): migrate, start ${version}'s process set beside it, smoke tests and analysis${strategy === "canary" ? ", canary weights 10/25/50 % with analysis" : ""}, switch, analysis for ${options.analysisSeconds} s, keep the old set warm for ${options.keepWarmSeconds} s, stop it.`);
            if (status.lock) io.out(`The lock is held now (${status.lock}): the deploy would be refused.`);
            return setExitCode(0);
          }
          return setExitCode(await (await import("./deploy/engine.ts")).deploy(opened.target, strategy, version, deployOptions, io));
        }
        const problem = releaseProblem(version);
        if (problem) {
          io.err(problem.message);
          return setExitCode(problem.code);
        }
        const target = await targetOf(name);
        if (!target) return setExitCode(1);
        if (options.dryRun) {
          const versions = await target.versions();
          const holder = await target.lockHolder();
          io.out(`Would deploy ${version} to ${target.namespace} (${strategy}) over ${versions["api-gateway"]}: migrate, preview track, smoke tests and analysis${strategy === "canary" ? ", 10/25/50 % of the gateway's pods with analysis" : ""}, switch, analysis for ${options.analysisSeconds} s, keep the old version warm for ${options.keepWarmSeconds} s, promote.`);
          if (holder) io.out(`The lock is held now (${holder}): the deploy would be refused.`);
          return setExitCode(0);
        }
        setExitCode(await (await import("./deploy/engine.ts")).deploy((await import("./deploy/kubernetes-target.ts")).kubernetesDeployTarget(target), strategy, version, deployOptions, io));
      });
  }
  deployCommand
    .command("status")
    .description("What runs in an environment (or both): versions, the last deploy and its outcome, whether a deploy holds the lock.")
    .addArgument(new Command().createArgument("[environment]", "staging or production (default: both)").choices(environments))
    .addOption(local())
    .option("--json", "print the status as JSON", false)
    .action(async (name: string | undefined, options: { target: string; json: boolean }) => {
      const report: Record<string, unknown> = {};
      if (options.target === "local") {
        const opened = await localOf(name ?? "staging");
        if (!opened) return setExitCode(1);
        const status = await opened.target.status();
        io.out(options.json ? JSON.stringify(status) : JSON.stringify(status, null, 2));
        return setExitCode(0);
      }
      let failed = false;
      for (const each of name ? [name] : environments) {
        const target = await targetOf(each);
        if (!target) {
          failed = true;
          report[each] = { reachable: false };
          continue;
        }
        report[each] = { reachable: true, versions: await target.versions(), preview: await target.previewExists(), lock: (await target.lockHolder()) ?? null, lastDeploy: (await target.readState()) ?? null };
      }
      if (options.json) io.out(JSON.stringify(report));
      else for (const [each, status] of Object.entries(report)) io.out(`${each}: ${JSON.stringify(status, null, 2)}`);
      setExitCode(failed ? 1 : 0);
    });

  program
    .command("rollback")
    .description("Back to the previous version: traffic to the stable track while a preview runs, otherwise kubectl rollout undo of every service.")
    .addArgument(environment())
    .argument("<reason>", 'why, recorded with the rollback (e.g. "High error rates detected")')
    .addOption(local())
    .option("--dry-run", "say what the rollback would do, change nothing", false)
    .action(async (name: string, reason: string, options: { target: string; dryRun: boolean }) => {
      if (!reason.trim()) {
        io.err("Give the reason for the rollback, e.g. azora rollback production \"High error rates detected\".");
        return setExitCode(2);
      }
      if (options.target === "local") {
        const opened = await localOf(name);
        if (!opened) return setExitCode(1);
        if (options.dryRun) {
          const status = (await opened.target.status()) as { live: string; rollbackTo: string };
          const how = status.rollbackTo === status.live ? `the canary share taken off ${status.live}'s routes, all traffic on ${status.live}` : `traffic from ${status.live} to ${status.rollbackTo}`;
          io.out(`Would roll back ${opened.target.where}: ${how} (its release restarted first if it is no longer warm). Reason: ${reason}`);
          return setExitCode(0);
        }
        return setExitCode(await (await import("./deploy/engine.ts")).rollback(opened.target, reason, io, { audit }));
      }
      const target = await targetOf(name);
      if (!target) return setExitCode(1);
      if (options.dryRun) {
        const how = (await target.previewExists()) ? "switch every Service back to the stable track and delete the preview" : "kubectl rollout undo every service's Deployment";
        io.out(`Would roll back ${target.namespace} (now ${(await target.versions())["api-gateway"]}): ${how}. Reason: ${reason}`);
        return setExitCode(0);
      }
      setExitCode(await (await import("./deploy/engine.ts")).rollback((await import("./deploy/kubernetes-target.ts")).kubernetesDeployTarget(target), reason, io, { audit }));
    });
}
