import { describeEndToEnd } from "./helpers/end-to-end.ts";

// The in-process composition (azora up's default) is test/e2e.test.ts.
describeEndToEnd("proxy");
