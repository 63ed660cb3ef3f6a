/** Which public route goes to which service, and whether the edge demands a valid access token. */
export interface GatewayRoute {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  upstream: "auth" | "users";
  requiresToken: boolean;
}

const auth = (method: GatewayRoute["method"], url: string, requiresToken = false): GatewayRoute => ({ method, url, upstream: "auth", requiresToken });
const users = (method: GatewayRoute["method"], url: string): GatewayRoute => ({ method, url, upstream: "users", requiresToken: true });

/** The public API (DESIGN.md, HTTP contract). Anything not listed is a 404 at the edge. */
export const gatewayRoutes: GatewayRoute[] = [
  auth("POST", "/api/auth/register"),
  auth("POST", "/api/auth/login"),
  auth("POST", "/api/auth/refresh"),
  auth("POST", "/api/auth/logout"),
  auth("GET", "/api/auth/me", true),
  auth("GET", "/.well-known/jwks.json"),
  users("GET", "/api/user/:id"),
  users("PATCH", "/api/user/:id"),
  users("POST", "/api/content"),
  users("GET", "/api/content"),
  users("GET", "/api/content/:id"),
  users("PUT", "/api/content/:id"),
  users("DELETE", "/api/content/:id"),
];
