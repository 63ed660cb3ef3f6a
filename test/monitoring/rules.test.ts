import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { prometheusDir, readRules, runbooksDir, runTool, type AlertRule } from "../helpers/monitoring.ts";
import { toolAvailability } from "../helpers/tools.ts";

const promtool = toolAvailability("promtool", "prometheus");
const ruleTests = ["tests/alerts.test.yml", "tests/freshness.test.yml", "tests/drill.test.yml", "tests/recording.test.yml"];

interface RuleTestFile {
  rule_files: string[];
  evaluation_interval?: string;
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const kebab = (name: string) => name.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();

describe.skipIf(!promtool.run)(`Prometheus rules ${promtool.reason}`, () => {
  let alerts: AlertRule[];
  let scratch: string;
  beforeAll(async () => {
    alerts = await readRules<AlertRule>("rules/alerts.yml");
    scratch = await mkdtemp(join(tmpdir(), "azora-rules-"));
  });
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("promtool check rules and check config accept the shipped files", async () => {
    const rules = await runTool("promtool", ["check", "rules", "rules/recording.yml", "rules/alerts.yml"]);
    expect(rules.output).toContain("SUCCESS: 11 rules found");
    expect(rules.code).toBe(0);
    const config = await runTool("promtool", ["check", "config", "prometheus.yml"]);
    expect(config.code, config.output).toBe(0);
  });

  it.each(ruleTests)("promtool test rules %s passes", async (file) => {
    const result = await runTool("promtool", ["test", "rules", file]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain("SUCCESS");
  });

  it("every alert has a case just before its `for` (silent) and one at it (firing), and a healthy case", async () => {
    const cases = new Map<string, { silent: number; firing: number }>();
    for (const file of ruleTests) {
      const doc = parse(await readFile(join(prometheusDir, file), "utf8")) as RuleTestFile;
      for (const group of doc.tests) {
        for (const test of group.alert_rule_test ?? []) {
          const seen = cases.get(test.alertname) ?? { silent: 0, firing: 0 };
          if (test.exp_alerts.length === 0) seen.silent++;
          else seen.firing++;
          cases.set(test.alertname, seen);
        }
      }
    }
    for (const rule of alerts) {
      expect(cases.get(rule.alert), rule.alert).toBeDefined();
      expect(cases.get(rule.alert)!.firing, `${rule.alert} has no firing case`).toBeGreaterThanOrEqual(1);
      // just before `for`, and healthy
      expect(cases.get(rule.alert)!.silent, `${rule.alert} needs silent cases`).toBeGreaterThanOrEqual(2);
    }
  });

  it("every alert is silent one evaluation before it fires, in the same case (just before its `for`, then at it)", async () => {
    const seconds = (duration: string) => {
      let total = 0;
      for (const [, amount, unit] of duration.matchAll(/(\d+)([hms])/g)) total += Number(amount) * { h: 3600, m: 60, s: 1 }[unit as "h" | "m" | "s"];
      return total;
    };
    const edges = new Set<string>();
    for (const file of ruleTests) {
      const doc = parse(await readFile(join(prometheusDir, file), "utf8")) as RuleTestFile;
      const step = seconds(doc.evaluation_interval ?? "1m");
      for (const group of doc.tests) {
        const cases = (group.alert_rule_test ?? []) as { alertname: string; eval_time: string; exp_alerts: unknown[] }[];
        for (const firing of cases.filter((test) => test.exp_alerts.length > 0)) {
          const before = seconds(firing.eval_time) - step;
          if (cases.some((test) => test.alertname === firing.alertname && test.exp_alerts.length === 0 && seconds(test.eval_time) === before)) edges.add(firing.alertname);
        }
      }
    }
    expect([...edges].sort()).toEqual(alerts.map((rule) => rule.alert).sort());
  });

  it("every firing case names a `service`, so Alertmanager's group_by [service] never files an alert under an empty group", async () => {
    const unnamed: string[] = [];
    for (const file of ruleTests) {
      const doc = parse(await readFile(join(prometheusDir, file), "utf8")) as RuleTestFile;
      for (const group of doc.tests) {
        for (const test of group.alert_rule_test ?? []) {
          for (const expected of test.exp_alerts as { exp_labels?: Record<string, string> }[]) {
            if (!expected.exp_labels?.service) unnamed.push(`${file}: ${test.alertname} in "${group.name}"`);
          }
        }
      }
    }
    expect(unnamed).toEqual([]);
  });

  it("every alert has a severity, a summary, a description and a runbook in docs/runbooks that says what to run", async () => {
    expect(alerts.map((rule) => rule.alert).sort()).toEqual(
      ["BackupStale", "CircuitBreakerOpen", "DatabaseConnectionsHigh", "HighErrorRate", "HighResponseTime", "LoginFailureSurge", "LowDiskSpace", "MailOutboxBacklog", "RateLimitSurge", "RestoreDrillStale", "ServiceDown"],
    );
    for (const rule of alerts) {
      expect(["critical", "warning"], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
      const page = `${kebab(rule.alert)}.md`;
      expect(rule.annotations?.runbook_url, rule.alert).toMatch(new RegExp(`/docs/runbooks/${page}$`));
      const path = join(runbooksDir, page);
      expect(existsSync(path), `${path} is missing`).toBe(true);
      const text = await readFile(path, "utf8");
      expect(text).toContain(`# ${rule.alert} (${rule.labels?.severity})`);
      expect(text, `${page} names no command to run`).toMatch(/`(azora [a-z]|\.\/(scripts|backup|deployment)\/)/);
    }
  });

  describe("the guide's expressions, corrected: each case fails on the guide's rules and passes on the shipped ones", async () => {
    const doc = parse(await readFile(join(prometheusDir, "tests/corrections.test.yml"), "utf8")) as RuleTestFile;
    const runCase = async (group: RuleTestFile["tests"][number], rules: string) => {
      const file = join(scratch, `case-${Math.random().toString(36).slice(2)}.yml`);
      await writeFile(file, stringify({ rule_files: [join(prometheusDir, rules)], evaluation_interval: doc.evaluation_interval, tests: [group] }));
      return runTool("promtool", ["test", "rules", file]);
    };
    it.each(doc.tests.map((group) => [group.name, group] as const))("%s", async (_name, group) => {
      const shipped = await runCase(group, "rules/alerts.yml");
      expect(shipped.code, shipped.output).toBe(0);
      const guide = await runCase(group, "tests/guide-as-printed.yml");
      expect(guide.code, "the guide's rule passes a case it should fail").not.toBe(0);
      expect(guide.output).toContain("FAILED");
    });
  });
});

describe("the runbooks' commands", () => {
  // A runbook that names a command which does not exist sends the person on call nowhere.
  it("every `azora …` command a runbook names exists, and every ./ script is in the repository", async () => {
    const { readdir } = await import("node:fs/promises");
    const { azora } = await import("../helpers/in-process-cli.ts");
    const repository = join(runbooksDir, "../..");
    const commands = new Set<string>();
    const scripts = new Set<string>();
    for (const page of (await readdir(runbooksDir)).filter((name) => name.endsWith(".md"))) {
      const text = await readFile(join(runbooksDir, page), "utf8");
      for (const [, code] of text.matchAll(/`([^`]+)`/g)) {
        const words = code!.trim().split(/\s+/);
        if (words[0] === "azora") {
          // The command path: the words up to the first option, placeholder or value.
          const rest = words.slice(1);
          const end = rest.findIndex((word) => !/^[a-z][a-z-]*$/.test(word));
          commands.add(["azora", ...(end === -1 ? rest : rest.slice(0, end))].join(" "));
        }
        if (/^\.\/(scripts|backup|deployment)\//.test(words[0]!)) scripts.add(words[0]!);
      }
    }
    expect(commands.size).toBeGreaterThan(5);
    for (const command of commands) {
      const path = command.split(" ").slice(1);
      const help = await azora([...path, "--help"]);
      expect(help.stdout.split("\n")[0], `${command} is not an azora command`).toMatch(new RegExp(`^Usage: ${command}( |$)`));
    }
    for (const script of scripts) expect(existsSync(join(repository, script)), `${script} does not exist`).toBe(true);
  });
});
