#!/usr/bin/env node
// CPU spent importing the CLI (tsx registration excluded), and optionally running one command:
//   node bin/measure-cli-import.js              -> import only
//   node bin/measure-cli-import.js -- version    -> import, then `azora version`
// CPU rather than wall time, so a loaded machine does not distort the figure.
import { register } from "tsx/esm/api";

register();
const start = process.cpuUsage();
const { main } = await import("../src/cli.ts");
const imported = process.cpuUsage(start);
const ms = (usage) => ((usage.user + usage.system) / 1000).toFixed(0);
const separator = process.argv.indexOf("--");
if (separator === -1) {
  console.log(`import src/cli.ts: ${ms(imported)} ms CPU`);
} else {
  const exitCode = await main([process.argv[0], "azora", ...process.argv.slice(separator + 1)]);
  const total = process.cpuUsage(start);
  console.error(`import src/cli.ts: ${ms(imported)} ms CPU; import and command: ${ms(total)} ms CPU (exit ${exitCode})`);
  process.exitCode = exitCode;
}
