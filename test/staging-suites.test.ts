// The staging suites, run by npm test against a local `azora up` (a real child process, as an operator starts
// it), so a change that would break them after a deploy fails here first.
import { afterAll, beforeAll } from "vitest";
import { startChildPlatform, type ChildPlatform } from "./helpers/child-platform.ts";
import { integrationSuite } from "./staging/integration.suite.ts";
import { smokeSuite } from "./staging/smoke.suite.ts";

let platform: ChildPlatform;

beforeAll(async () => {
  platform = await startChildPlatform({ via: "azora" });
});

afterAll(async () => {
  platform?.run.child.kill("SIGTERM");
  await platform?.dispose();
});

smokeSuite(() => platform.baseUrl);
integrationSuite(() => platform.baseUrl);
