import { Command, type Command as CommandType } from "commander";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";

export interface TrafficCliHooks {
  io: CommandIO;
  platform: <Args extends Record<string, unknown>>(command: PlatformCommand<Args>, args: Args) => Promise<void>;
  setExitCode: (code: number) => void;
}

const list = (value: string) => value.split(",").map((each) => each.trim()).filter(Boolean);

/** `azora traffic status|switch|weight|targets`: release routing of the split-mode gateways. */
export function registerTrafficCommands(program: CommandType, hooks: TrafficCliHooks): void {
  const { io, platform, setExitCode } = hooks;
  const upstream = () => new Command().createArgument("upstream", "auth or users").choices(["auth", "users"]);
  const traffic = program
    .command("traffic")
    .description("Release traffic of the split-mode gateways (azora serve gateway): blue and green target sets per upstream, the live colour, a canary weight.");
  traffic
    .command("status")
    .description("Each upstream's target sets, live colour, canary weight and revision.")
    .option("--json", "print the routes as JSON", false)
    .action(async (options: { json: boolean }) => platform((await import("./traffic.ts")).trafficCommand, { action: "status", json: options.json }));
  traffic
    .command("switch")
    .description("Send every new request to the other colour (or --to COLOUR); the canary weight goes to 0. In-flight requests finish where they are.")
    .addArgument(upstream())
    .addOption(new Command().createOption("--to <colour>", "the colour to make live").choices(["blue", "green"]))
    .option("--dry-run", "print the route the switch would write, change nothing", false)
    .option("--json", "print the new route as JSON", false)
    .action(async (name: "auth" | "users", options: { to?: "blue" | "green"; dryRun: boolean; json: boolean }) =>
      platform((await import("./traffic.ts")).trafficCommand, { action: "switch", upstream: name, ...(options.to ? { to: options.to } : {}), dryRun: options.dryRun, json: options.json }),
    );
  traffic
    .command("weight")
    .description("Send PERCENT (0-100) of the upstream's requests to the colour that is not live: the canary.")
    .addArgument(upstream())
    .argument("<percent>", "whole percent, 0 to 100")
    .option("--dry-run", "print the route the change would write, change nothing", false)
    .option("--json", "print the new route as JSON", false)
    .action(async (name: "auth" | "users", percent: string, options: { dryRun: boolean; json: boolean }) => {
      if (!/^\d{1,3}$/.test(percent) || Number(percent) > 100) {
        io.err(`The canary weight is a whole percent from 0 to 100, not "${percent}" (e.g. azora traffic weight users 10).`);
        return setExitCode(2);
      }
      return platform((await import("./traffic.ts")).trafficCommand, { action: "weight", upstream: name, percent: Number(percent), dryRun: options.dryRun, json: options.json });
    });
  traffic
    .command("targets")
    .description("Set the blue and/or green target set of an upstream (comma-separated http://host:port origins). The live colour cannot be emptied.")
    .addArgument(upstream())
    .option("--blue <urls>", "blue targets, e.g. http://10.0.0.5:8080,http://10.0.0.6:8080", list)
    .option("--green <urls>", "green targets", list)
    .option("--dry-run", "print the route the change would write, change nothing", false)
    .option("--json", "print the new route as JSON", false)
    .action(async (name: "auth" | "users", options: { blue?: string[]; green?: string[]; dryRun: boolean; json: boolean }) =>
      platform((await import("./traffic.ts")).trafficCommand, {
        action: "targets",
        upstream: name,
        ...(options.blue ? { blue: options.blue } : {}),
        ...(options.green ? { green: options.green } : {}),
        dryRun: options.dryRun,
        json: options.json,
      }),
    );
}
