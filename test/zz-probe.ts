import { request as httpRequest } from "node:http";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { startTestPlatform } from "./helpers/platform.ts";

const backend = backends()[Number(process.env.B ?? 0)]!;
const platform = await startTestPlatform(backend);
const api = apiClient(platform.baseUrl);
const user = await api.newUser();
const t = user.accessToken;
const show = async (label: string, p: Promise<any>) => { const r = await p; console.log(label, r.status, JSON.stringify(r.body)?.slice(0, 220)); };
function raw(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<{ status: number; body: string } | string> {
  return new Promise((resolve) => {
    const url = new URL(platform.baseUrl);
    const h = { ...headers };
    if (body !== undefined && !h["transfer-encoding"] && !h["content-length"]) h["content-length"] = String(Buffer.byteLength(body));
    const req = httpRequest({ host: url.hostname, port: url.port, path, method, headers: h }, (res) => {
      let data = ""; res.on("data", (c) => (data += c)); res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data.slice(0, 200) }));
    });
    req.on("error", (e) => resolve(String(e)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}
const A = { authorization: `Bearer ${t}` };
console.log("double slash", await raw("GET", "//api/content", A));
console.log("no slash", await raw("GET", "*", A));
await show("qs nested", api.get(`/api/content?limit[a]=1`, t));
await show("qs proto", api.get(`/api/content?__proto__=1`, t));
await show("qs limit 1.5", api.get(`/api/content?limit=1.5`, t));
await show("qs limit hex", api.get(`/api/content?limit=0x10`, t));
await show("qs limit space", api.get(`/api/content?limit=%20`, t));
await show("qs limit Infinity", api.get(`/api/content?limit=Infinity`, t));
await show("qs offset huge", api.get(`/api/content?offset=99999999999999999999`, t));
await show("qs pct bad", api.get(`/api/content?limit=%zz`, t));
await show("qs ok", api.get(`/api/content?limit=5&offset=0`, t));
await show("qs on me", api.get(`/api/auth/me?x=1`, t));
await show("qs on user", api.get(`/api/user/me?x=1`, t));
await show("login nul email", api.call("POST", "/api/auth/login", { json: { email: "a\u0000@example.com", password: "x" } }));
await show("login nul pw", api.call("POST", "/api/auth/login", { json: { email: user.email, password: "x\u0000" } }));
await show("register nul pw", api.call("POST", "/api/auth/register", { json: { email: "nulpw@example.com", password: "12345678\u0000" } }));
await show("refresh nul", api.call("POST", "/api/auth/refresh", { json: { refreshToken: "a".repeat(30) + "\u0000" } }));
await show("patch nul", api.call("PATCH", "/api/user/me", { token: t, json: { name: "\u0000" } }));
await show("register email unicode", api.call("POST", "/api/auth/register", { json: { email: "üser@exämple.com", password: "12345678" } }));
await show("register name ws", api.call("POST", "/api/auth/register", { json: { email: "ws@example.com", password: "12345678", name: "   " } }));
await show("patch name ws", api.call("PATCH", "/api/user/me", { token: t, json: { name: "   " } }));
await show("patch name null", api.call("PATCH", "/api/user/me", { token: t, json: { name: null } }));
await show("patch empty obj", api.call("PATCH", "/api/user/me", { token: t, json: {} }));
await show("health", api.get("/health"));
await platform.stop();
