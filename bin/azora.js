#!/usr/bin/env node
// The `azora` command: loads the TypeScript CLI through tsx so the package runs without a build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli.ts");
process.exitCode = await main(process.argv);
