// OpenFlow rules as typed values, and the one function that writes them as `ovs-ofctl` text.
// No record value is ever pasted into a flow: MACs are 6 bytes, addresses are bytes with a
// prefix length, numbers are range-checked, actions come from a closed set, and the written
// line is checked against a strict grammar before it leaves this module (else FlowError).
// So nothing a record holds can add a rule, a match or an action. Pure.

export class FlowError extends Error {
  constructor(message: string) { super(message); this.name = 'FlowError'; }
}

/** Protocol shorthands of ovs-fields(7) that the locking rules use. */
export const PROTOS = ['ip', 'arp', 'udp', 'ipv6', 'icmp6'] as const;
export type Proto = (typeof PROTOS)[number];
export const ACTIONS = ['normal', 'drop'] as const;
export type FlowAction = (typeof ACTIONS)[number];

/** An address with its prefix length: 4 bytes (IPv4) or 16 (IPv6). */
export interface Net { bytes: readonly number[]; len: number }

export type Match =
  | { field: 'dl_src' | 'arp_sha'; mac: readonly number[] }
  | { field: 'nw_src'; net: Net }
  | { field: 'ipv6_src' | 'nd_target'; net: Net }
  | { field: 'tp_dst'; port: number }
  | { field: 'icmp_type'; type: number };

export interface Flow {
  cookie: number;
  priority: number;
  inPort: number;
  proto?: Proto;
  match: Match[];
  action: FlowAction;
}

/** The protocols each match field needs (its OpenFlow prerequisites; null: none). */
const NEEDS: Record<Match['field'], readonly Proto[] | null> = {
  dl_src: null, arp_sha: ['arp'], nw_src: ['ip', 'arp'], ipv6_src: ['ipv6', 'icmp6'], nd_target: ['icmp6'],
  tp_dst: ['udp'], icmp_type: ['icmp6'],
};

function uint(v: unknown, min: number, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new FlowError(`${what} must be an integer in ${min}..${max}`);
  return v;
}

function bytes(v: unknown, n: number, what: string): number[] {
  if (!Array.isArray(v) || v.length !== n) throw new FlowError(`${what} must be ${n} bytes`);
  return v.map((b, i) => uint(b, 0, 255, `${what}[${i}]`));
}

const hex2 = (b: number) => b.toString(16).padStart(2, '0');

/** An address masked to its prefix, as OVS prints it: `a.b.c.d[/n]`, `x:x:x:x:x:x:x:x[/n]` (uncompressed). */
function formatNet(net: Net, family: 4 | 6, what: string): string {
  if (typeof net !== 'object' || net === null) throw new FlowError(`${what} must be an address`);
  const max = family === 4 ? 32 : 128;
  const len = uint(net.len, 0, max, `${what} prefix`);
  const b = bytes(net.bytes, max / 8, what).map((x, i) => {
    const keep = Math.min(8, Math.max(0, len - 8 * i));
    return x & (0xff << (8 - keep)) & 0xff;
  });
  const addr = family === 4
    ? b.join('.')
    : Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':');
  return len === max ? addr : `${addr}/${len}`;
}

function formatMatch(m: Match): string {
  switch (m.field) {
    case 'dl_src': case 'arp_sha': return `${m.field}=${bytes(m.mac, 6, m.field).map(hex2).join(':')}`;
    case 'nw_src': return `nw_src=${formatNet(m.net, 4, 'nw_src')}`;
    case 'ipv6_src': case 'nd_target': return `${m.field}=${formatNet(m.net, 6, m.field)}`;
    case 'tp_dst': return `tp_dst=${uint(m.port, 0, 65535, 'tp_dst')}`;
    case 'icmp_type': return `icmp_type=${uint(m.type, 0, 255, 'icmp_type')}`;
    default: throw new FlowError(`unknown match field ${JSON.stringify((m as { field: unknown }).field)}`);
  }
}

const MAC = '[0-9a-f]{2}(?::[0-9a-f]{2}){5}';
const V4 = '\\d{1,3}(?:\\.\\d{1,3}){3}(?:/\\d{1,2})?';
const V6 = '[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7}(?:/\\d{1,3})?';
/** Every line formatFlow may write, and nothing else. */
const FLOW_LINE = new RegExp(
  `^cookie=0x[0-9a-f]{1,8},priority=\\d{1,5},in_port=\\d{1,5}(?:,(?:${PROTOS.join('|')}))?` +
  `(?:,(?:dl_src|arp_sha)=${MAC}|,nw_src=${V4}|,(?:ipv6_src|nd_target)=${V6}|,tp_dst=\\d{1,5}|,icmp_type=\\d{1,3})*` +
  `,actions=(?:${ACTIONS.join('|')})$`);

/** One flow as an `ovs-ofctl add-flows` line (throws FlowError on any value out of its type). */
export function formatFlow(f: Flow): string {
  const parts = [
    `cookie=0x${uint(f.cookie, 0, 0xffffffff, 'cookie').toString(16)}`,
    `priority=${uint(f.priority, 0, 65535, 'priority')}`,
    // OpenFlow's port numbers for real ports: 1..0xfeff (the rest are reserved).
    `in_port=${uint(f.inPort, 1, 0xfeff, 'in_port')}`,
  ];
  if (f.proto !== undefined) {
    if (!PROTOS.includes(f.proto)) throw new FlowError(`unknown protocol ${JSON.stringify(f.proto)}`);
    parts.push(f.proto);
  }
  if (!Array.isArray(f.match)) throw new FlowError('match must be a list');
  for (const m of f.match) {
    const field = (m as { field?: unknown } | null)?.field;
    if (typeof field !== 'string' || !Object.hasOwn(NEEDS, field)) throw new FlowError(`unknown match field ${JSON.stringify(field)}`);
    const needs = NEEDS[field as Match['field']];
    if (needs && !(f.proto && needs.includes(f.proto))) throw new FlowError(`${field} needs one of ${needs.join(', ')}`);
    parts.push(formatMatch(m));
  }
  if (!ACTIONS.includes(f.action)) throw new FlowError(`unknown action ${JSON.stringify(f.action)}`);
  parts.push(`actions=${f.action}`);
  const line = parts.join(',');
  if (!FLOW_LINE.test(line)) throw new FlowError(`flow outside the grammar: ${JSON.stringify(line)}`);
  return line;
}

/** The input of `ovs-ofctl add-flows BRIDGE -`: one line per flow. */
export function formatFlows(flows: Flow[]): string {
  return flows.map(formatFlow).join('\n') + '\n';
}

/** The match of `dump-flows`/`del-flows` for a cookie (exact), optionally one in_port. */
export function cookieMatch(cookie: number, inPort?: number): string {
  const c = `cookie=0x${uint(cookie, 0, 0xffffffff, 'cookie').toString(16)}/-1`;
  return inPort === undefined ? c : `${c},in_port=${uint(inPort, 1, 0xfeff, 'in_port')}`;
}
