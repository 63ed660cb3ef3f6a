import { isIPv4, isIPv6 } from "node:net";

/** The network an address belongs to, as "a.b.c.0/24" or "2001:db8:0:0::/64"; the address itself when it is not an IP. */
export function networkPrefix(ip: string, bitsV4: number, bitsV6: number): string {
  const address = ip.startsWith("::ffff:") && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  if (isIPv4(address)) {
    const value = address.split(".").reduce((sum, part) => sum * 256 + Number(part), 0);
    const masked = bitsV4 === 0 ? 0 : Math.floor(value / 2 ** (32 - bitsV4)) * 2 ** (32 - bitsV4);
    return `${[24, 16, 8, 0].map((shift) => Math.floor(masked / 2 ** shift) % 256).join(".")}/${bitsV4}`;
  }
  if (isIPv6(address)) {
    const groups = expandV6(address);
    const kept: string[] = [];
    for (let index = 0; index < 8; index++) {
      const bits = Math.max(0, Math.min(16, bitsV6 - index * 16));
      const mask = bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
      kept.push(((groups[index] ?? 0) & mask).toString(16));
    }
    return `${kept.join(":")}/${bitsV6}`;
  }
  return address;
}

function expandV6(address: string): number[] {
  const [head = "", tail] = address.split("%")[0]!.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((group) => parseInt(group, 16) || 0));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
