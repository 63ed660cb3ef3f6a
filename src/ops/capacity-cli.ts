import { resolve } from "node:path";
import { Option, type Command } from "commander";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import { CAPACITY_METRICS } from "./capacity/metrics.ts";
import { parseSize } from "./logs/limits.ts";

export interface CapacityCliHooks {
  io: CommandIO;
  /** The environment, for PROMETHEUS_URL (the default of --prometheus). */
  env: NodeJS.ProcessEnv;
  platform: <Args extends Record<string, unknown>>(command: PlatformCommand<Args>, args: Args) => Promise<void>;
  setExitCode: (code: number) => void;
}

/** Parses `metric=value` (sizes such as 50G for database, blobs and storage); a message when it is wrong. */
function parseLimit(text: string): [string, number] | string {
  const [name = "", value = ""] = text.split("=", 2);
  if (!(CAPACITY_METRICS as readonly string[]).includes(name)) return `--limit ${text}: the metric is one of ${CAPACITY_METRICS.join(", ")}.`;
  const number = ["database", "blobs", "storage"].includes(name) ? parseSize(value) : /^\d+(\.\d+)?$/.test(value) ? Number(value) : undefined;
  if (number === undefined || number <= 0) return `--limit ${text}: the value must be a positive number${["database", "blobs", "storage"].includes(name) ? " or size (50G)" : ""}.`;
  return [name, number];
}

/** `azora capacity review`: the guide's monthly capacity planning. */
export function registerCapacityCommands(program: Command, hooks: CapacityCliHooks): void {
  const { io, env, platform, setExitCode } = hooks;
  program
    .command("capacity")
    .description("Capacity planning.")
    .command("review")
    .description("Growth of users, content, database and attachment bytes, connections and request rate; a linear projection and the days until each limit.")
    .addOption(new Option("--days <n>", "window of daily points (2-365)").default("30"))
    .addOption(
      new Option("--limit <metric=value>", `a limit to project against; repeat it (metrics: ${CAPACITY_METRICS.join(", ")})`).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
    )
    .addOption(new Option("--prometheus <url>", "Prometheus base URL for the request rate (http_requests_total); default PROMETHEUS_URL; without one the rate comes from the gateway's access lines in api.log").default(env.PROMETHEUS_URL || undefined))
    .addOption(new Option("--prometheus-url <url>", "the same as --prometheus (the name `azora deploy` and `azora incident postmortem` use)"))
    .addOption(new Option("--replica-capacity <req/s>", "requests a second one gateway replica serves: the request limit is then the HPA maximum times this"))
    .addOption(new Option("--hpa-file <file>", "manifest with the gateway's HorizontalPodAutoscaler (default deployment/kubernetes/base/autoscaling.yaml)"))
    .option("--json", "print the review as JSON", false)
    .option("--html", "print an HTML page with a small SVG chart", false)
    .action(async (options: { days: string; limit?: string[]; prometheus?: string; prometheusUrl?: string; replicaCapacity?: string; hpaFile?: string; json: boolean; html: boolean }) => {
      const problems: string[] = [];
      const prometheus = options.prometheusUrl ?? options.prometheus;
      const days = /^\d+$/.test(options.days) && Number(options.days) >= 2 && Number(options.days) <= 365 ? Number(options.days) : undefined;
      if (days === undefined) problems.push(`--days takes a whole number from 2 to 365, not "${options.days}".`);
      const limits: Record<string, number> = {};
      for (const text of options.limit ?? []) {
        const parsed = parseLimit(text);
        if (typeof parsed === "string") problems.push(parsed);
        else limits[parsed[0]] = parsed[1];
      }
      if (prometheus && !(/^https?:\/\/[^\s]+$/.test(prometheus) && URL.canParse(prometheus))) problems.push("--prometheus (or PROMETHEUS_URL) must be an http:// or https:// URL.");
      if (options.json && options.html) problems.push("Choose one of --json and --html.");
      const replicaCapacity = options.replicaCapacity === undefined ? undefined : /^\d+(\.\d+)?$/.test(options.replicaCapacity) && Number(options.replicaCapacity) > 0 ? Number(options.replicaCapacity) : undefined;
      if (options.replicaCapacity !== undefined && replicaCapacity === undefined) problems.push(`--replica-capacity takes a positive number of requests a second, not "${options.replicaCapacity}".`);
      if (problems.length > 0 || days === undefined) {
        problems.forEach((problem) => io.err(problem));
        setExitCode(2);
        return;
      }
      const format = options.json ? "json" : options.html ? "html" : "table";
      return platform((await import("./capacity/review.ts")).capacityReviewCommand, {
        days,
        limits,
        format,
        ...(prometheus ? { prometheus } : {}),
        ...(replicaCapacity ? { replicaCapacity } : {}),
        ...(options.hpaFile ? { hpaFile: resolve(options.hpaFile) } : {}),
      });
    });
}
