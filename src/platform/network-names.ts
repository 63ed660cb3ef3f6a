import { isIP } from "node:net";

/** Names the proxy-address matcher understands besides addresses and ranges. */
const proxyRangeNames = new Set(["loopback", "linklocal", "uniquelocal"]);

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
const hostName = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Why a listen address is unusable, or undefined when it is an IP address or a host name. */
export function hostProblem(value: string): string | undefined {
  if (isIP(value) || hostName.test(value)) return undefined;
  return `${JSON.stringify(value)} is neither an IP address nor a host name (e.g. 0.0.0.0, 127.0.0.1, ::)`;
}

/**
 * Why a TRUSTED_PROXIES entry is unusable, or undefined when it is an address, a CIDR range
 * (10.0.0.0/8, fd00::/8) or one of the names loopback, linklocal, uniquelocal.
 */
export function trustedProxyProblem(entry: string): string | undefined {
  if (proxyRangeNames.has(entry) || isIP(entry)) return undefined;
  const [address = "", prefix, ...rest] = entry.split("/");
  const family = isIP(address);
  if (family && prefix !== undefined && rest.length === 0) {
    if (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)) return undefined;
    if (family === 4 && isIP(prefix) === 4) return undefined; // a netmask, 10.0.0.0/255.0.0.0
  }
  return "is not an IP address, a CIDR range (10.0.0.0/8) or loopback|linklocal|uniquelocal";
}
