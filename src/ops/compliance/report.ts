import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import type { PlatformCommand } from "../../platform/command.ts";
import { evaluateControls, type Control, type ControlState } from "./controls.ts";

const args = z.object({ format: z.enum(["markdown", "html", "json"]).default("markdown"), dependencies: z.boolean().default(true), out: z.string().optional() });

const order: Record<ControlState, number> = { fail: 0, warn: 1, pass: 2 };
const mark: Record<ControlState, string> = { fail: "FAIL", warn: "WARN", pass: "PASS" };
const escape = (text: string) => text.replace(/[&<>"']/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[char] ?? char);
const cell = (text: string) => text.replace(/\|/g, "\\|");

/** Failing controls first, then warnings, then the rest, each group in the guide's order. */
export const byUrgency = (controls: Control[]) => [...controls].sort((a, b) => order[a.state] - order[b.state]);

function markdown(controls: Control[], generatedAt: string): string {
  const failing = controls.filter((control) => control.state === "fail");
  return `# Azora OS compliance report

Generated ${generatedAt}. ${failing.length > 0 ? `**${failing.length} control${failing.length === 1 ? "" : "s"} failing:** ${failing.map((control) => control.title).join(", ")}.` : "All controls pass."}

| State | Control | Detail |
|---|---|---|
${controls.map((control) => `| ${mark[control.state]} | ${cell(control.title)} | ${cell(control.detail)} |`).join("\n")}
`;
}

function html(controls: Control[], generatedAt: string): string {
  const rows = controls.map((control) => `<tr class="${control.state}"><td>${mark[control.state]}</td><td>${escape(control.title)}</td><td>${escape(control.detail)}</td></tr>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Azora OS compliance report</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2933}table{border-collapse:collapse;width:100%}td,th{border-top:1px solid #e4e7eb;padding:.5rem;text-align:left;vertical-align:top}.fail td:first-child{color:#c92a2a;font-weight:700}.warn td:first-child{color:#e67700;font-weight:700}.pass td:first-child{color:#2f9e44}</style>
</head><body><h1>Azora OS compliance report</h1><p>Generated ${escape(generatedAt)}.</p>
<table><thead><tr><th>State</th><th>Control</th><th>Detail</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
}

/**
 * `azora compliance report` (./scripts/compliance-report.sh): audit chain, backups and drills, retention, GDPR
 * requests, admin access, secret rotation, policy, open security findings, open incidents, dependencies. Exit 1 when a control fails.
 */
export const complianceReportCommand: PlatformCommand<z.input<typeof args>> = {
  name: "compliance report",
  async run(context, rawArgs, io) {
    const { format, dependencies, out } = args.parse(rawArgs);
    const controls = byUrgency(await evaluateControls(context, { dependencies }));
    const generatedAt = new Date(context.clock.now()).toISOString();
    const ok = controls.every((control) => control.state !== "fail");
    const document =
      format === "json" ? JSON.stringify({ generatedAt, ok, failing: controls.filter((control) => control.state === "fail").map((control) => control.id), controls }) : format === "html" ? html(controls, generatedAt) : markdown(controls, generatedAt);
    if (out) {
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, `${document.trimEnd()}\n`);
      const failing = controls.filter((control) => control.state === "fail").map((control) => control.id);
      // --json keeps stdout one JSON document even when the report itself goes to a file.
      if (format === "json") io.out(JSON.stringify({ out, ok, failing }));
      else io.out(`Wrote ${out}: ${ok ? "all controls pass" : `failing: ${failing.join(", ")}`}.`);
    } else io.out(document.trimEnd());
    return ok ? 0 : 1;
  },
};
