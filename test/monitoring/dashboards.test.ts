import { describe, expect, it } from "vitest";
import { alertThresholds } from "../../src/platform/dashboard/alert-thresholds.ts";
import { readDashboards } from "../helpers/monitoring.ts";

// Which expressions parse and which metrics exist is checked against a real Prometheus and a running
// platform in live-prometheus.test.ts; this suite checks the dashboards' own shape.
describe("Grafana dashboards", () => {
  it("ship RED, auth and security, data and backups, and node, with unique uids", async () => {
    const dashboards = await readDashboards();
    expect(dashboards.map(({ dashboard }) => dashboard.uid).sort()).toEqual(["azora-data", "azora-node", "azora-red", "azora-security"]);
    for (const { dashboard } of dashboards) expect(dashboard.title).toMatch(/^Azora OS \/ /);
  });

  it("choose their data source through a variable, in every panel and every query", async () => {
    for (const { file, dashboard } of await readDashboards()) {
      const variable = dashboard.templating.list.find((item: any) => item.name === "datasource");
      expect(variable, file).toMatchObject({ type: "datasource", query: "prometheus" });
      const ids = new Set<number>();
      for (const panel of dashboard.panels) {
        expect(panel.datasource, `${file} "${panel.title}"`).toEqual({ type: "prometheus", uid: "${datasource}" });
        expect(panel.targets.length, `${file} "${panel.title}"`).toBeGreaterThan(0);
        for (const target of panel.targets) expect(target.datasource.uid).toBe("${datasource}");
        expect(ids.has(panel.id), `${file}: panel id ${panel.id} twice`).toBe(false);
        ids.add(panel.id);
      }
    }
  });

  it("RED shows rate, errors and duration per service, filtered by the service variable", async () => {
    const red = (await readDashboards()).find(({ dashboard }) => dashboard.uid === "azora-red")!.dashboard;
    const expressions = red.panels.flatMap((panel: any) => panel.targets.map((target: any) => target.expr)).join("\n");
    expect(expressions).toContain('sum by (service) (rate(http_requests_total{service=~"$service"}[$__rate_interval]))');
    expect(expressions).toContain("histogram_quantile(0.95, sum by (le, service)");
    expect(expressions).toContain('status=~"5.."');
  });

  it("draws the freshness alerts' thresholds, and BackupStale's no-backup-yet clause, on the backup panels", async () => {
    const data = (await readDashboards()).find(({ dashboard }) => dashboard.uid === "azora-data")!.dashboard;
    const panel = (title: string) => data.panels.find((candidate: any) => candidate.title === title);
    const red = (title: string) => panel(title).fieldConfig.defaults.thresholds.steps.find((step: any) => step.color === "red").value;
    expect(red("Age of the newest backup by kind")).toBe(alertThresholds.BackupStale.threshold);
    expect(red("Age of the last restore drill")).toBe(alertThresholds.RestoreDrillStale.threshold);
    const backupQueries = panel("Age of the newest backup by kind").targets.map((target: any) => target.expr).join("\n");
    expect(backupQueries).toContain("unless on() max(azora_backup_last_success_timestamp_seconds{kind!~\"config|content\"})");
  });

  it("shows the mail outbox on the auth and security dashboard, with MailOutboxBacklog's threshold drawn on the age panel", async () => {
    const security = (await readDashboards()).find(({ dashboard }) => dashboard.uid === "azora-security")!.dashboard;
    const age = security.panels.find((candidate: any) => candidate.title.startsWith("Mail outbox: oldest waiting mail"));
    expect(age.fieldConfig.defaults.thresholds.steps.find((step: any) => step.color === "red").value).toBe(alertThresholds.MailOutboxBacklog.threshold);
    const expressions = security.panels.flatMap((panel: any) => panel.targets.map((target: any) => target.expr)).join("\n");
    // The gauges read one table shared by every auth replica: max, not sum; the counter is per replica: sum.
    expect(expressions).toContain("max by (kind) (azora_mail_outbox_pending)");
    expect(expressions).toContain("sum by (outcome) (rate(azora_mail_deliveries_total[$__rate_interval]))");
  });
});

describe("the PromQL scan the live suite uses", () => {
  it("finds metric names, not functions, labels, keywords or durations", async () => {
    const { metricNames, withoutGrafanaVariables } = await import("../helpers/promql.ts");
    expect(metricNames('sum by (service) (rate(http_requests_total{status=~"5.."}[5m])) / ignoring(x) sum(rate(http_requests_total[5m])) > 0.05')).toEqual(["http_requests_total"]);
    expect(metricNames("histogram_quantile(0.95, sum by (le, service) (rate(http_request_duration_seconds_bucket[5m]))) > 2")).toEqual(["http_request_duration_seconds_bucket"]);
    expect(metricNames("time() - max(azora_backup_last_success_timestamp_seconds) > 26 * 3600 or absent(up) unless on(instance) node_load1 offset 5m")).toEqual(["azora_backup_last_success_timestamp_seconds", "node_load1", "up"]);
    expect(withoutGrafanaVariables('rate(x{service=~"$service"}[$__rate_interval])')).toBe('rate(x{service=~".*"}[5m])');
  });
});
