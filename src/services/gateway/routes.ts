import type { RouteGroup } from "./rate-limits.ts";

/** Which public route goes to which service, whether the edge demands a valid access token, and whose budget it draws on. */
export interface GatewayRoute {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  upstream: "auth" | "users";
  requiresToken: boolean;
  /** Accepts bodies up to the attachment limit (plus multipart framing) instead of BODY_LIMIT_BYTES. */
  largeBody?: boolean;
  /** auth: per client IP, strict; read and write: per user once the token is verified, per IP before. */
  group: RouteGroup;
}

type Method = GatewayRoute["method"];
const groupOf = (method: Method): RouteGroup => (method === "GET" ? "read" : "write");
const auth = (method: Method, url: string, requiresToken = false, group: RouteGroup = "auth"): GatewayRoute => ({ method, url, upstream: "auth", requiresToken, group });
const users = (method: Method, url: string): GatewayRoute => ({ method, url, upstream: "users", requiresToken: true, group: groupOf(method) });

/** The public API (DESIGN.md, HTTP contract). Anything not listed is a 404 at the edge. */
export const gatewayRoutes: GatewayRoute[] = [
  auth("POST", "/api/auth/register"),
  auth("POST", "/api/auth/login"),
  auth("POST", "/api/auth/refresh"),
  auth("POST", "/api/auth/logout"),
  auth("GET", "/api/auth/me", true, "read"),
  auth("POST", "/api/auth/password/forgot"),
  auth("POST", "/api/auth/password/reset"),
  auth("POST", "/api/auth/password/change", true),
  auth("GET", "/.well-known/jwks.json", false, "read"),
  users("GET", "/api/user/:id"),
  users("PATCH", "/api/user/:id"),
  users("POST", "/api/content"),
  users("GET", "/api/content"),
  users("GET", "/api/content/:id"),
  users("PUT", "/api/content/:id"),
  users("DELETE", "/api/content/:id"),
  { ...users("POST", "/api/content/:id/attachments"), largeBody: true },
  users("GET", "/api/content/:id/attachments"),
  users("GET", "/api/content/:id/attachments/:attachmentId"),
  users("DELETE", "/api/content/:id/attachments/:attachmentId"),
  users("GET", "/api/user/me/export"),
  users("DELETE", "/api/user/me"),
];
