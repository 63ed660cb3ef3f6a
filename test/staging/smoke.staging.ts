// `npm run test:smoke:staging`: the smoke suite against AZORA_BASE_URL.
import { smokeSuite } from "./smoke.suite.ts";
import { baseUrlFromEnvironment } from "./target.ts";

const baseUrl = baseUrlFromEnvironment();
smokeSuite(() => baseUrl);
