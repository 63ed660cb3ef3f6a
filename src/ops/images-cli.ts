import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { Option, type Command } from "commander";
import type { CommandIO } from "../platform/command.ts";
import { packageVersion, type Config } from "../platform/config.ts";
import type { AuditSummary } from "./images/audit.ts";

const packageRoot = () => fileURLToPath(new URL("../../", import.meta.url));

interface UpdateFlags {
  overlaysDir?: string;
  overlay?: string[];
  force: boolean;
  dryRun: boolean;
  audit: boolean;
  json: boolean;
}

/** `azora images update VERSION`: the guide's weekly image update. */
export function registerImagesCommands(program: Command, hooks: { io: CommandIO; withConfig: (action: (config: Config) => Promise<number>) => () => Promise<void> }): void {
  const { io, withConfig } = hooks;
  program
    .command("images")
    .description("Container images of the Kubernetes overlays.")
    .command("update <version>")
    .description("Set the Azora images' tag in the kustomize overlays to VERSION, show the diff, and summarise npm audit --omit=dev. Refuses an unknown or older version unless --force. A change is recorded in the audit log (images.update).")
    .addOption(new Option("--overlays-dir <dir>", "where the overlays are").default("deployment/kubernetes/overlays"))
    .addOption(new Option("--overlay <name>", "only this overlay (repeat it); default: every overlay").argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]))
    .option("--force", "accept a version this checkout does not know, or an older one", false)
    .option("--dry-run", "show the diff; write nothing", false)
    .option("--no-audit", "skip npm audit")
    .option("--json", "print the result as JSON", false)
    .action((text: string, flags: UpdateFlags) => withConfig((config) => updateImages(config, text, flags, io))());
}

async function updateImages(config: Config, text: string, flags: UpdateFlags, io: CommandIO): Promise<number> {
  const { compareVersions, knownVersions, parseVersion } = await import("./images/versions.ts");
  const { applyOverlayUpdate, lineDiff, planOverlayUpdate } = await import("./images/overlays.ts");
  const version = parseVersion(text);
  if (!version) {
    io.err(`"${text}" is not a version: write MAJOR.MINOR.PATCH, e.g. 1.4.0 or 1.4.0-rc.1.`);
    return 2;
  }
  const overlaysDir = resolve(flags.overlaysDir ?? "deployment/kubernetes/overlays");
  const plan = await planOverlayUpdate(overlaysDir, flags.overlay, version);
  if (typeof plan === "string") {
    io.err(plan);
    return 1;
  }
  const refusals: string[] = [];
  if (!knownVersions(packageRoot(), packageVersion()).has(version)) {
    refusals.push(`${version} is not a version this checkout knows (its package version or a git tag): is the image built?`);
  }
  for (const change of plan) {
    for (const [image, tag] of Object.entries(change.current)) {
      const currentVersion = parseVersion(tag);
      if (currentVersion && compareVersions(version, currentVersion) < 0) refusals.push(`${change.overlay}: ${image} is at ${currentVersion}, newer than ${version} (a downgrade: azora rollback is the usual way back).`);
    }
  }
  if (refusals.length > 0 && !flags.force) {
    refusals.forEach((line) => io.err(line));
    io.err("Nothing changed. Add --force to do it anyway.");
    return 1;
  }
  const diff = plan.flatMap((change) => lineDiff(change.file, change.before, change.after));
  const changed = plan.filter((change) => change.before !== change.after);
  let audited = false;
  if (!flags.dryRun && changed.length > 0) {
    await applyOverlayUpdate(plan);
    // Git history records the files; the audit log records who bumped what, and whether it was forced.
    audited = await (await import("./images/images-audit.ts")).auditImagesUpdate(
      config,
      { action: "images.update", target: `overlays:${overlaysDir}`, details: { version, overlays: changed.map((change) => ({ overlay: change.overlay, from: change.current })), forced: flags.force && refusals.length > 0 ? refusals : [] } },
      io.err,
    );
  }
  const audit: AuditSummary | undefined = flags.audit ? await (await import("./images/audit.ts")).auditProductionDependencies(packageRoot()) : undefined;
  if (flags.json) {
    io.out(JSON.stringify({ version, dryRun: flags.dryRun, audited, forced: refusals.length > 0 ? refusals : [], overlays: plan.map((change) => ({ overlay: change.overlay, file: change.file, from: change.current, changed: change.before !== change.after })), diff, audit: audit ?? null }));
  } else {
    refusals.forEach((line) => io.err(`forced: ${line}`));
    if (diff.length === 0) io.out(`Every overlay is already at ${version}.`);
    diff.forEach((line) => io.out(line));
    io.out(flags.dryRun ? "Dry run: nothing written." : `Set ${plan.length} overlay(s) to ${version}.`);
    if (audit?.ok) {
      const counts = Object.entries(audit.vulnerabilities).filter(([, count]) => count > 0).map(([severity, count]) => `${count} ${severity}`);
      io.out(`npm audit --omit=dev: ${audit.total === 0 ? "no known vulnerabilities" : `${audit.total} (${counts.join(", ")})`}.`);
    } else if (audit) io.out(`npm audit --omit=dev: ${audit.reason}`);
  }
  return 0;
}
