import { describeEndToEnd } from "./helpers/end-to-end.ts";

// The proxy composition is test/e2e-proxy.test.ts: each file runs on a worker of its own.
describeEndToEnd("in-process");
