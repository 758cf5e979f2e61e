// A host's layer 3 state (addresses, routes, neighbours) and the two changes the agent makes to
// it as a whole: moving what a NIC holds onto the bridge that takes the NIC over, and putting
// back a snapshot (the rollback of a management change that cut the host off).
//
// Each change is one `ip -batch` run: every line is one netlink request, sent back to back by
// one process, so the host's address changes device within milliseconds. The lines are ordered
// so that a run stopped by a failing line leaves the address reachable on at least one device:
// everything is added to the new device before anything is removed from the old one. Planning
// is pure; every value is checked before it becomes a word of a line (a batch line is text).
import { spawn } from 'node:child_process';
import { isIfName, isIPv4, isIPv6, isMac, parseIPv4Cidr, parseIPv6Cidr } from '../../common/net-syntax.js';

export interface L3Addr {
  dev: string;
  /** address/prefix */
  cidr: string;
  family: 4 | 6;
}

export interface L3Route {
  dev: string;
  family: 4 | 6;
  /** `default` or a prefix. */
  dst: string;
  via?: string;
  protocol?: string;
  metric?: number;
  prefsrc?: string;
  scope?: string;
  onlink?: boolean;
}

export interface L3Neigh {
  dev: string;
  ip: string;
  mac: string;
  permanent: boolean;
}

export interface L3State {
  addrs: L3Addr[];
  routes: L3Route[];
  neighs: L3Neigh[];
}

/** The `ip` commands whose JSON outputs parseL3 reads, in that order (one batch run). */
// (A batch line takes no -6: IPv6 routes are selected by their root, ::/0, over every table.)
export const L3_READ = ['addr show', 'route show table main', 'route show table all root ::/0', 'neigh show'];

type J = Record<string, unknown>;
const s = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const WORD = /^[a-z0-9_-]{1,32}$/;

const isPrefix = (p: string, family: 4 | 6): boolean =>
  p === 'default' || (family === 4 ? parseIPv4Cidr(p) ?? (isIPv4(p) ? true : undefined) : parseIPv6Cidr(p) ?? (isIPv6(p) ? true : undefined)) !== undefined;

/**
 * Pure: the JSON outputs of L3_READ → the addresses that belong to the host's configuration
 * (global scope: not link-local, not loopback), the main table's routes, and the neighbours the
 * kernel knows a MAC for. Anything that does not parse as what it should be is left out.
 */
export function parseL3(outputs: string[]): L3State {
  if (outputs.length !== L3_READ.length) throw new Error(`ip -batch: expected ${L3_READ.length} outputs, got ${outputs.length}`);
  const [addrs, r4, r6, neighs] = outputs.map((o) => (o.trim() === '' ? [] : JSON.parse(o) as J[])) as [J[], J[], J[], J[]];
  const out: L3State = { addrs: [], routes: [], neighs: [] };
  for (const l of addrs) {
    const dev = s(l.ifname);
    if (!dev || !isIfName(dev)) continue;
    for (const a of (l.addr_info as J[] | undefined) ?? []) {
      const family = a.family === 'inet' ? 4 : a.family === 'inet6' ? 6 : 0;
      const local = s(a.local) ?? '';
      const len = Number(a.prefixlen);
      if (family === 0 || a.scope !== 'global' || !Number.isInteger(len)) continue;
      const cidr = `${local}/${len}`;
      if (family === 4 ? parseIPv4Cidr(cidr) : parseIPv6Cidr(cidr)) out.addrs.push({ dev, cidr, family });
    }
  }
  for (const [family, list] of [[4, r4], [6, r6]] as const) {
    for (const r of list) {
      const dev = s(r.dev);
      const dst = s(r.dst);
      if (!dev || !isIfName(dev) || !dst || !isPrefix(dst, family)) continue;
      if (r.type !== undefined && r.type !== 'unicast') continue; // local, blackhole, multicast…: not a device's
      if (r.table !== undefined && r.table !== 'main') continue;
      const route: L3Route = { dev, family, dst };
      const via = s(r.gateway);
      if (via !== undefined) { if (!(family === 4 ? isIPv4(via) : isIPv6(via))) continue; route.via = via; }
      const protocol = s(r.protocol);
      if (protocol !== undefined && WORD.test(protocol)) route.protocol = protocol;
      if (Number.isInteger(r.metric)) route.metric = r.metric as number;
      const prefsrc = s(r.prefsrc);
      if (prefsrc !== undefined && (family === 4 ? isIPv4(prefsrc) : isIPv6(prefsrc))) route.prefsrc = prefsrc;
      const scope = s(r.scope);
      if (scope !== undefined && WORD.test(scope)) route.scope = scope;
      if (Array.isArray(r.flags) && r.flags.includes('onlink')) route.onlink = true;
      out.routes.push(route);
    }
  }
  for (const n of neighs) {
    const dev = s(n.dev);
    const ip = s(n.dst);
    const mac = s(n.lladdr)?.toLowerCase();
    const state = Array.isArray(n.state) ? n.state.map(String) : [];
    if (!dev || !isIfName(dev) || !ip || !(isIPv4(ip) || isIPv6(ip)) || !mac || !isMac(mac)) continue;
    if (!state.some((x) => ['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT'].includes(x))) continue;
    out.neighs.push({ dev, ip, mac, permanent: state.includes('PERMANENT') });
  }
  return out;
}

/** A route the kernel makes by itself (the prefix of an address, IPv6 link-local): never copied. */
const isKernelRoute = (r: L3Route): boolean =>
  r.protocol === 'kernel' || (r.family === 6 && /^(fe80|ff[0-9a-f]{2}):/i.test(r.dst));

function routeLine(r: L3Route, dev: string): string {
  // `default` alone means IPv4 in a batch line (no -6 there): IPv6's is spelt ::/0.
  const dst = r.family === 6 && r.dst === 'default' ? '::/0' : r.dst;
  const w = ['route', 'replace', dst];
  if (r.via) w.push('via', r.via);
  w.push('dev', dev);
  if (r.protocol) w.push('proto', r.protocol);
  if (r.metric !== undefined) w.push('metric', String(r.metric));
  if (r.prefsrc) w.push('src', r.prefsrc);
  if (r.scope && r.scope !== 'global' && r.scope !== 'universe') w.push('scope', r.scope);
  if (r.onlink) w.push('onlink');
  return w.join(' ');
}

const addrAdd = (a: L3Addr, dev: string): string =>
  a.family === 4 ? `addr replace ${a.cidr} broadcast + dev ${dev}` : `addr replace ${a.cidr} dev ${dev} nodad`;

/** What a NIC holds that must go with it: none when it holds no address. */
export function heldBy(state: L3State, dev: string): L3State {
  return {
    addrs: state.addrs.filter((a) => a.dev === dev),
    routes: state.routes.filter((r) => r.dev === dev && !isKernelRoute(r)),
    neighs: state.neighs.filter((n) => n.dev === dev),
  };
}

function assertDev(d: string): string {
  if (!isIfName(d)) throw new Error(`invalid interface name ${JSON.stringify(d)}`);
  return d;
}

/**
 * Pure: the batch that moves everything `from` holds onto `to` (which takes `from` over as its
 * uplink, or as a bond member): `to` up; the addresses added to `to` as permanent ones (the
 * agent's configuration decides about them from now on, not the lifetime a distribution's DHCP
 * client gave them); the routes through `from` replaced by the same routes through `to` (the
 * default route too); the neighbours `from` knew, known on `to` (no ARP round trip after the
 * move); last, the addresses deleted from `from`, which drops whatever routes were left on it.
 * Empty when `from` holds no address.
 */
export function planMove(state: L3State, from: string, to: string): string[] {
  assertDev(from); assertDev(to);
  const held = heldBy(state, from);
  if (held.addrs.length === 0) return [];
  const lines = [`link set dev ${to} up`];
  for (const a of held.addrs) lines.push(addrAdd(a, to));
  // A route through `from` that already exists through `to` is simply replaced by it.
  for (const r of held.routes) lines.push(routeLine(r, to));
  for (const n of held.neighs) lines.push(`neigh replace ${n.ip} lladdr ${n.mac} dev ${to} nud ${n.permanent ? 'permanent' : 'stale'}`);
  for (const a of held.addrs) lines.push(`addr del ${a.cidr} dev ${from}`);
  return lines;
}

/**
 * Pure: the batch that gives `devs` back what they held in `before` (addresses, then routes)
 * where `now` lacks it, after the removal of the addresses they got back from wherever they are
 * now (so that an address is never on two devices). The default route of `before` comes back
 * when it went through one of `devs`. Used by the rollback once the previous switch
 * configuration is restored.
 */
export function planRestore(before: L3State, now: L3State, devs: string[]): string[] {
  const lines: string[] = [];
  const want = before.addrs.filter((a) => devs.includes(a.dev));
  const present = new Set(now.addrs.map((a) => `${a.dev} ${a.cidr}`));
  const ipOf = (c: string) => c.split('/')[0];
  for (const d of devs) assertDev(d);
  const back = want.filter((a) => !present.has(`${a.dev} ${a.cidr}`));
  for (const d of new Set(back.map((a) => a.dev))) lines.push(`link set dev ${d} up`);
  for (const a of back) {
    for (const o of now.addrs) if (o.dev !== a.dev && ipOf(o.cidr) === ipOf(a.cidr)) lines.push(`addr del ${o.cidr} dev ${o.dev}`);
    lines.push(addrAdd(a, a.dev));
  }
  const key = (r: L3Route) => `${r.family} ${r.dst} ${r.metric ?? 0}`;
  const nowRoutes = new Map(now.routes.map((r) => [key(r), r]));
  for (const r of before.routes) {
    if (!devs.includes(r.dev) || isKernelRoute(r)) continue;
    const cur = nowRoutes.get(key(r));
    if (cur && cur.dev === r.dev && cur.via === r.via) continue;
    lines.push(routeLine(r, r.dev));
  }
  return lines;
}

/**
 * Runs a batch with `ip -batch -` (in `netns` when given). It stops at the first failing line
 * (no -force): the ordering of the planners makes every prefix of a batch safe.
 */
export function runBatch(netns: string | undefined, lines: string[], timeoutMs = 15000): Promise<void> {
  if (lines.length === 0) return Promise.resolve();
  for (const l of lines) if (/[\n\r"'\\#]/.test(l)) throw new Error(`refusing batch line ${JSON.stringify(l)}`);
  const argv = [...(netns ? ['-n', netns] : []), '-batch', '-'];
  return new Promise((resolve, reject) => {
    const p = spawn('ip', argv, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`ip -batch: ${err.trim() || `exited (${code})`}`));
    });
    p.stdin.on('error', () => { /* reported by 'close' */ });
    p.stdin.end(lines.join('\n') + '\n');
  });
}

/** Reads the layer 3 state (one `ip -json -batch` run). */
export function readL3(netns: string | undefined, timeoutMs = 15000): Promise<L3State> {
  const argv = [...(netns ? ['-n', netns] : []), '-json', '-batch', '-'];
  return new Promise((resolve, reject) => {
    const p = spawn('ip', argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) { reject(new Error(`ip -json -batch: ${err.trim() || `exited (${code})`}`)); return; }
      try { resolve(parseL3(out.split('\n').filter((l) => l.trim() !== ''))); } catch (e) { reject(e); }
    });
    p.stdin.end(L3_READ.join('\n') + '\n');
  });
}
