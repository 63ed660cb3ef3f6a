// `npm run test:integration:staging`: the integration suite against AZORA_BASE_URL.
import { integrationSuite } from "./integration.suite.ts";
import { baseUrlFromEnvironment } from "./target.ts";

const baseUrl = baseUrlFromEnvironment();
integrationSuite(() => baseUrl);
