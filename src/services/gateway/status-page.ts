/** The public /status page: one line per component, no internals. */
export function renderStatusPage(version: string, components: Record<string, boolean>): string {
  const allUp = Object.values(components).every(Boolean);
  const rows = Object.entries(components)
    .map(([name, up]) => `<tr><td>${name}</td><td class="${up ? "up" : "down"}">${up ? "Operational" : "Unavailable"}</td></tr>`)
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Azora OS status</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto}td{padding:.3rem 1rem}.up{color:#18794e}.down{color:#c62828}</style>
</head>
<body>
<h1>${allUp ? "All systems operational" : "Degraded service"}</h1>
<table>${rows}</table>
<p>Version ${version}</p>
</body>
</html>
`;
}
