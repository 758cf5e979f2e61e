// The syntax of the network values that reach a host: addresses, prefixes, MACs, interface
// names, UUIDs. Pure, strict (no surrounding spaces, no zone ids, no leading '+'), shared by
// the server's field rules and the agent, which checks records again before using them.

/**
 * `a.b.c.d`, each part 0..255 in decimal without sign or leading zero (`010` would be octal to
 * inet_aton and decimal to others); the four bytes, or undefined.
 */
export function parseIPv4(s: string): number[] | undefined {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(s);
  if (!m) return undefined;
  const bytes = m.slice(1).map(Number);
  return bytes.every((b) => b <= 255) ? bytes : undefined;
}

/** An IPv6 address in any RFC 4291 text form (`::`, embedded IPv4); its 16 bytes, or undefined. */
export function parseIPv6(s: string): number[] | undefined {
  if (!/^[0-9A-Fa-f:.]{2,45}$/.test(s) || s.includes(':::')) return undefined;
  let rest = s;
  let tail: number[] = [];
  const v4 = /(^|:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = parseIPv4(v4[2]!);
    if (!b) return undefined;
    tail = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
    rest = s.slice(0, s.length - v4[2]!.length);
    if (rest.endsWith(':') && !rest.endsWith('::')) rest = rest.slice(0, -1);
  }
  const halves = rest.split('::');
  if (halves.length > 2) return undefined;
  const groups = halves.map((h) => (h === '' ? [] : h.split(':')));
  if (!groups.flat().every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return undefined;
  const [head, after = []] = groups.map((g) => g.map((x) => parseInt(x, 16)));
  const given = head!.length + after.length + tail.length;
  let words: number[];
  if (halves.length === 2) {
    if (given > 7) return undefined;
    words = [...head!, ...new Array<number>(8 - given).fill(0), ...after, ...tail];
  } else {
    if (given !== 8) return undefined;
    words = [...head!, ...tail];
  }
  return words.flatMap((w) => [w >> 8, w & 255]);
}

export const isIPv4 = (s: string): boolean => parseIPv4(s) !== undefined;
export const isIPv6 = (s: string): boolean => parseIPv6(s) !== undefined;

/** A prefix: the address bytes and the prefix length. */
export interface Prefix { bytes: number[]; len: number }

function parsePrefix(s: string, parse: (a: string) => number[] | undefined, max: number, lenRequired: boolean): Prefix | undefined {
  const parts = s.split('/');
  if (parts.length > 2 || (lenRequired && parts.length !== 2)) return undefined;
  const bytes = parse(parts[0]!);
  if (!bytes) return undefined;
  if (parts.length === 1) return { bytes, len: max };
  const len = parts[1]!;
  if (!/^(0|[1-9]\d{0,2})$/.test(len) || Number(len) > max) return undefined;
  return { bytes, len: Number(len) };
}

/** `a.b.c.d/n` (n 0..32). */
export const parseIPv4Cidr = (s: string): Prefix | undefined => parsePrefix(s, parseIPv4, 32, true);
/** `addr/n` with an IPv6 address (n 0..128). */
export const parseIPv6Cidr = (s: string): Prefix | undefined => parsePrefix(s, parseIPv6, 128, true);
/** An IPv4 address or `address/n`. */
export const parseIPv4Net = (s: string): Prefix | undefined => parsePrefix(s, parseIPv4, 32, false);
/** An IPv6 address or `address/n`. */
export const parseIPv6Net = (s: string): Prefix | undefined => parsePrefix(s, parseIPv6, 128, false);

export const isIPv4Cidr = (s: string): boolean => parseIPv4Cidr(s) !== undefined;
export const isIPv6Cidr = (s: string): boolean => parseIPv6Cidr(s) !== undefined;

/** `xx:xx:xx:xx:xx:xx` in hex (either case); the six bytes, or undefined. */
export function parseMac(s: string): number[] | undefined {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) return undefined;
  return s.split(':').map((x) => parseInt(x, 16));
}
export const isMac = (s: string): boolean => parseMac(s) !== undefined;

/** Dotted netmask with contiguous ones. */
export function isNetmask(s: string): boolean {
  const b = parseIPv4(s);
  if (!b) return false;
  const inv = 0xffffffff - b.reduce((acc, x) => acc * 256 + x, 0);
  return (inv & (inv + 1)) === 0;
}

/** Linux's limit on interface names: IFNAMSIZ (16) bytes with the terminating NUL. */
export const IFNAME_MAX_BYTES = 15;

/**
 * A name Linux accepts for a network interface (the kernel's dev_valid_name: 1..15 bytes, not
 * `.` or `..`, no `/`, `:` or whitespace) that is also safe as a command argument and an OVS
 * name: no control character, no lone surrogate, no leading `-` (it would read as an option).
 */
export function isIfName(s: string): boolean {
  return s !== '' && s !== '.' && s !== '..' && Buffer.byteLength(s, 'utf8') <= IFNAME_MAX_BYTES &&
    !s.startsWith('-') && !/[\s/:\u0000-\u001f\u007f\p{Cs}]/u.test(s);
}

/** A UUID in its canonical 8-4-4-4-12 hex form. */
export const isUuid = (s: string): boolean => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s);

/** A decimal integer without sign or spaces, in [min, max]; the number, or undefined. */
export function parseUint(s: string, min: number, max: number): number | undefined {
  if (!/^\d{1,15}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= min && n <= max ? n : undefined;
}

/** MTUs any Linux device may take: 68 (the IPv4 minimum) to 65535 (the largest IP packet). */
export const MTU_MIN = 68;
export const MTU_MAX = 65535;
export const isMtu = (n: number): boolean => Number.isInteger(n) && n >= MTU_MIN && n <= MTU_MAX;

/** A DNS host or domain name (RFC 1123 labels, at most 253 bytes). */
export function isDnsName(s: string): boolean {
  return s.length <= 253 && /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$/.test(s);
}
