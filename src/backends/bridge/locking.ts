// VIF locking on the bridge backend, with nftables (bridge family): for a `locked` VIF only
// frames from its MAC pass, and of those only DHCP requests, ARP for its addresses (or the
// 0.0.0.0 probe) and IP from its addresses; everything else it sends is dropped. The rules are
// built as nftables JSON from parsed values (addresses as bytes and prefix length, the MAC as
// six bytes), never from record text, and replace the driver's table in one transaction. Pure.
import { createHash } from 'node:crypto';
import { isIfName, parseIPv4Net, parseIPv6Net, parseMac, type Prefix } from '../../common/net-syntax.js';

export const NFT_TABLE = 'xcpnet';

export interface LockedPort { owner: string; port: string; mac: string; ipv4: string[]; ipv6: string[] }

const v4 = (p: Prefix) => p.bytes.join('.');
const v6 = (p: Prefix) => {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((p.bytes[i]! << 8) | p.bytes[i + 1]!).toString(16));
  return groups.join(':');
};
const prefix = (addr: string, len: number, max: number) => (len === max ? addr : { prefix: { addr, len } });
const match = (left: unknown, right: unknown, op = '==') => ({ match: { op, left, right } });
const payload = (protocol: string, field: string) => ({ payload: { protocol, field } });

/** Pure: the rule expressions of one locked port (a MAC that does not parse: drop all). */
export function portRules(l: LockedPort): unknown[][] {
  if (!isIfName(l.port)) return [];
  const iif = match({ meta: { key: 'iifname' } }, l.port);
  const drop = [iif, { drop: null }];
  const mac = parseMac(l.mac);
  if (!mac) return [drop];
  const macText = mac.map((b) => b.toString(16).padStart(2, '0')).join(':');
  const four = l.ipv4.map(parseIPv4Net).filter((p): p is Prefix => !!p).map((p) => prefix(v4(p), p.len, 32));
  const six = l.ipv6.map(parseIPv6Net).filter((p): p is Prefix => !!p).map((p) => prefix(v6(p), p.len, 128));
  const type = (t: string) => match(payload('ether', 'type'), t);
  const rules: unknown[][] = [
    [iif, match(payload('ether', 'saddr'), macText, '!='), { drop: null }],
    [iif, type('ip'), match(payload('udp', 'dport'), 67), { accept: null }],
    [iif, type('arp'), match(payload('arp', 'saddr ether'), macText), match(payload('arp', 'saddr ip'), { set: ['0.0.0.0', ...four] }), { accept: null }],
  ];
  if (four.length) rules.push([iif, type('ip'), match(payload('ip', 'saddr'), { set: four }), { accept: null }]);
  if (six.length) rules.push([iif, type('ip6'), match(payload('ip6', 'saddr'), { set: six }), { accept: null }]);
  rules.push(drop);
  return rules;
}

/** Pure: the whole table for the locked ports, and its fingerprint (kept in each rule's comment). */
export function lockTable(locked: LockedPort[]): { fingerprint: string; rules: unknown[][] } {
  const rules = [...locked].sort((a, b) => a.port.localeCompare(b.port)).flatMap(portRules);
  return { fingerprint: createHash('sha256').update(JSON.stringify(rules)).digest('hex').slice(0, 16), rules };
}

/** Pure: one nftables JSON transaction that replaces the table with these rules (none: removes it). */
export function lockTransaction(t: { fingerprint: string; rules: unknown[][] }): unknown {
  const table = { family: 'bridge', name: NFT_TABLE };
  const cmds: unknown[] = [{ add: { table } }, { delete: { table } }];
  if (t.rules.length) {
    cmds.push({ add: { table } });
    cmds.push({ add: { chain: { ...table, table: NFT_TABLE, name: 'lock', type: 'filter', hook: 'prerouting', prio: -200, policy: 'accept' } } });
    for (const expr of t.rules) cmds.push({ add: { rule: { family: 'bridge', table: NFT_TABLE, chain: 'lock', expr, comment: `xcpnet ${t.fingerprint}` } } });
  }
  return { nftables: cmds };
}

/** Pure: from `nft -j list table bridge xcpnet`, the fingerprints of its rules and how many. */
export function observedTable(json: string): { fingerprints: Set<string>; count: number } {
  const out = { fingerprints: new Set<string>(), count: 0 };
  const doc = JSON.parse(json) as { nftables?: { rule?: { comment?: string } }[] };
  for (const x of doc.nftables ?? []) {
    if (!x.rule) continue;
    out.count++;
    out.fingerprints.add(x.rule.comment ?? '');
  }
  return out;
}
