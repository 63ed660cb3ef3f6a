import type { Incident } from "./incidents.repository.ts";
import type { ComponentStatus, PlatformStatus } from "./status.ts";

/** Text from the database (maintenance message, incident titles) goes into HTML escaped, always. */
const escape = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[char] ?? char);

const headline: Record<ComponentStatus, string> = {
  operational: "All systems operational",
  degraded: "Degraded performance",
  outage: "Major outage",
  maintenance: "Under maintenance",
};
const componentWords: Record<ComponentStatus, string> = { operational: "Operational", degraded: "Degraded", outage: "Outage", maintenance: "Maintenance" };
const incidentStatusWords: Record<Incident["status"], string> = { investigating: "Investigating", identified: "Identified", monitoring: "Monitoring", resolved: "Resolved" };

const when = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

const css = `
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2933;background:#f5f7fa}
header{background:#fff;border-bottom:1px solid #e4e7eb}header div,main,footer{max-width:52rem;margin:0 auto;padding:0 1.25rem}
header div{display:flex;align-items:center;justify-content:space-between;height:4.5rem}.brand{font-weight:700;font-size:1.25rem;letter-spacing:-.01em}
.brand span{color:#3e4c59;font-weight:400}.subscribe{color:#52606d;font-size:.9rem}
main{padding-top:2rem;padding-bottom:2rem}.banner{border-radius:.5rem;padding:1.1rem 1.4rem;color:#fff;font-size:1.3rem;font-weight:600;display:flex;align-items:center;gap:.75rem}
.banner.operational{background:#2f9e44;color:#fff}.banner.degraded{background:#e67700;color:#fff}.banner.outage{background:#c92a2a;color:#fff}.banner.maintenance{background:#1c7ed6;color:#fff}
.dot{display:inline-block;width:.8rem;height:.8rem;border-radius:50%;background:currentColor;flex:none}.banner .dot{background:#fff}
.notice{background:#fff;border:1px solid #d0ebff;border-left:.35rem solid #1c7ed6;border-radius:.5rem;padding:1rem 1.25rem;margin-top:1.25rem}
.notice h2{font-size:1.05rem;margin:0 0 .3rem}.notice p{margin:0}.meta{color:#7b8794;font-size:.85rem;margin-top:.4rem}
section{margin-top:2rem}section>h2{font-size:1.1rem;margin:0 0 .75rem;color:#323f4b}
.card{background:#fff;border:1px solid #e4e7eb;border-radius:.5rem;overflow:hidden}
.row{display:flex;justify-content:space-between;align-items:center;padding:.9rem 1.25rem;border-top:1px solid #e4e7eb}.row:first-child{border-top:0}
.state{display:flex;align-items:center;gap:.5rem;font-size:.95rem;font-weight:500}
.operational{color:#2f9e44}.degraded{color:#e67700}.outage{color:#c92a2a}.maintenance{color:#1c7ed6}
.incident{padding:1rem 1.25rem;border-top:1px solid #e4e7eb}.incident:first-child{border-top:0}.incident h3{margin:0;font-size:1.05rem}
.incident.minor h3{color:#e67700}.incident.major h3{color:#d9480f}.incident.critical h3{color:#c92a2a}
.incident p{margin:.35rem 0 0}.tag{display:inline-block;font-size:.75rem;font-weight:600;text-transform:uppercase;letter-spacing:.04em;background:#f0f4f8;color:#3e4c59;border-radius:.25rem;padding:.05rem .4rem;margin-right:.4rem}
.updates{list-style:none;margin:.6rem 0 0;padding:0 0 0 .9rem;border-left:2px solid #e4e7eb;font-size:.9rem}.updates li{margin:.25rem 0}.updates .meta{display:inline}
.empty{padding:1rem 1.25rem;color:#52606d}footer{color:#7b8794;font-size:.85rem;padding-bottom:3rem}footer a{color:#52606d}
`;

/** Earlier updates under the current message, newest first (the current one is the headline message). */
function updateList(incident: Incident): string {
  const earlier = incident.updates.slice(0, -1).reverse();
  if (earlier.length === 0) return "";
  const items = earlier.map((update) => `<li><span class="tag">${incidentStatusWords[update.status]}</span>${escape(update.message)} <span class="meta">${when(update.at)}</span></li>`);
  return `<ul class="updates">\n${items.join("\n")}\n</ul>\n`;
}

function incidentBlock(incident: Incident): string {
  const affected = incident.components.length > 0 ? ` · Affects ${escape(incident.components.join(", "))}` : "";
  return `<article class="incident ${incident.impact}">
<h3>${escape(incident.title)}</h3>
<p><span class="tag">${incidentStatusWords[incident.status]}</span>${escape(incident.message)}</p>
<div class="meta">${incident.reference ? `${escape(incident.reference)} · ` : ""}Started ${when(incident.startedAt)} · Updated ${when(incident.updatedAt)}${affected}</div>
${updateList(incident)}</article>`;
}

/** The public status page: server-rendered, readable without JavaScript, refreshed by the browser every minute. */
export function renderStatusPage(status: PlatformStatus): string {
  const maintenance = status.maintenance
    ? `<div class="notice" role="status"><h2>Maintenance in progress</h2><p>${escape(status.maintenance.message)}</p>${
        status.maintenance.since ? `<div class="meta">Since ${when(status.maintenance.since)}</div>` : ""
      }</div>`
    : "";
  const components = status.components
    .map((component) => `<div class="row"><span>${escape(component.label)}</span><span class="state ${component.status}"><span class="dot"></span>${componentWords[component.status]}</span></div>`)
    .join("\n");
  const incidents = status.incidents.length > 0 ? status.incidents.map(incidentBlock).join("\n") : `<div class="empty">No incidents reported.</div>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="60">
<title>Azora OS Status</title>
<style>${css}</style>
</head>
<body>
<header><div><span class="brand">Azora OS <span>Status</span></span><span class="subscribe">Machine-readable: <a href="/status.json">status.json</a></span></div></header>
<main>
<div class="banner ${status.status}"><span class="dot"></span>${headline[status.status]}</div>
${maintenance}
<section aria-labelledby="components"><h2 id="components">Components</h2><div class="card">
${components}
</div></section>
<section aria-labelledby="incidents"><h2 id="incidents">Open incidents</h2><div class="card">
${incidents}
</div></section>
</main>
<footer>Last updated ${when(status.updatedAt)} · Version ${escape(status.version)}</footer>
</body>
</html>
`;
}
