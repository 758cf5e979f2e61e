// iproute2 (`ip -json`) at the edge: links, addresses, routes, veths and namespaces, run
// through execFile (no shell), optionally inside a network namespace (`ip -n NS`). Every name,
// address and MAC is checked before it becomes an argument (IpError otherwise): an interface
// name never starts with '-' nor holds a '/', so no value can turn into an option or a path.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isIfName, isIPv4, isIPv6, isMac, parseIPv4Cidr, parseIPv6Cidr } from '../../common/net-syntax.js';

const exec = promisify(execFile);

export class IpError extends Error {
  constructor(readonly args: string[], readonly stderr: string) {
    super(`ip ${args.join(' ')}: ${stderr.trim() || 'failed'}`);
    this.name = 'IpError';
  }
}

export interface IpLink {
  ifname: string;
  ifindex: number;
  mtu: number;
  address?: string;
  flags: string[];
  operstate?: string;
  /** From `-d`: e.g. 'veth', 'tun', 'openvswitch', 'bridge'; undefined for plain NICs. */
  kind?: string;
  /** `master` device name, when enslaved. */
  master?: string;
  /** Set when the link's peer (a veth's other end) lives in another namespace. */
  peerNetnsId?: number;
}

export interface IpRoute { dst: string; gateway?: string; dev?: string; protocol?: string }

/** One link of `ip -json -details link/addr show` → IpLink. */
export function parseIpLink(l: Record<string, unknown>): IpLink {
  const info = l.linkinfo as { info_kind?: string } | undefined;
  return {
    ifname: String(l.ifname), ifindex: Number(l.ifindex), mtu: Number(l.mtu), address: l.address as string | undefined,
    flags: (l.flags as string[] | undefined) ?? [], operstate: l.operstate as string | undefined,
    kind: info?.info_kind, master: l.master as string | undefined,
    ...(typeof l.link_netnsid === 'number' ? { peerNetnsId: l.link_netnsid } : {}),
  };
}

export type AddrInfo = { family: string; local: string; prefixlen: number; scope: string };

/** A namespace name as `ip netns` stores it (a file under /run/netns): no path, no option. */
export const isNetnsName = (s: string): boolean => /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/.test(s);

/** `value`, when `ok(value)`; else an IpError naming what it should have been. */
function arg(value: string, ok: (s: string) => boolean, what: string): string {
  if (!ok(value)) throw new IpError([], `invalid ${what} ${JSON.stringify(value)}`);
  return value;
}
const dev = (d: string) => arg(d, isIfName, 'interface name');
const cidr = (c: string) => arg(c, (s) => !!(parseIPv4Cidr(s) ?? parseIPv6Cidr(s)), 'address/prefix');
const ip = (a: string) => arg(a, (s) => isIPv4(s) || isIPv6(s), 'address');
const ns = (n: string) => arg(n, isNetnsName, 'namespace name');

/** The IPv4 global addresses of one link of `ip -json addr show`, as CIDR strings. */
export function ipv4Addrs(l: { addr_info?: AddrInfo[] }): string[] {
  return (l.addr_info ?? []).filter((a) => a.family === 'inet' && a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
}

/** Runs `ip` (optionally in a namespace). One instance per namespace. */
export class Ip {
  constructor(readonly netns?: string) {}

  private argv(args: string[]): string[] {
    return this.netns ? ['-n', ns(this.netns), ...args] : args;
  }

  async run(...args: string[]): Promise<string> {
    try {
      const { stdout } = await exec('ip', this.argv(args), { timeout: 15000, maxBuffer: 64 << 20 });
      return stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new IpError(args, err.stderr ?? err.message);
    }
  }

  async json<T>(...args: string[]): Promise<T> {
    const out = await this.run('-json', ...args);
    return (out.trim() === '' ? [] : JSON.parse(out)) as T;
  }

  async links(): Promise<IpLink[]> {
    return (await this.json<Record<string, unknown>[]>('-d', 'link', 'show')).map(parseIpLink);
  }

  /** IPv4 global addresses per device, as CIDR strings. */
  async addrs(): Promise<Map<string, string[]>> {
    const raw = await this.json<{ ifname: string; addr_info?: AddrInfo[] }[]>('-4', 'addr', 'show');
    return new Map(raw.map((l) => [l.ifname, ipv4Addrs(l)]));
  }

  async defaultRoute(): Promise<{ dev: string; via: string } | undefined> {
    const raw = await this.json<IpRoute[]>('-4', 'route', 'show', 'default');
    const r = raw.find((x) => x.gateway && x.dev);
    return r ? { dev: r.dev!, via: r.gateway! } : undefined;
  }

  // Argument checks run inside the promise, so a bad value is a rejected call like a failed one.
  async setUp(d: string): Promise<string> { return this.run('link', 'set', 'dev', dev(d), 'up'); }
  async setDown(d: string): Promise<string> { return this.run('link', 'set', 'dev', dev(d), 'down'); }
  async setMtu(d: string, mtu: number): Promise<string> { return this.run('link', 'set', 'dev', dev(d), 'mtu', String(Math.trunc(mtu))); }
  /** Adds (or keeps: `replace`) an address, e.g. one a NIC's move has put there already. */
  async addAddr(d: string, c: string): Promise<string> { return this.run('addr', 'replace', cidr(c), 'broadcast', '+', 'dev', dev(d)); }
  async delAddr(d: string, c: string): Promise<string> { return this.run('addr', 'del', cidr(c), 'dev', dev(d)); }
  async replaceDefaultRoute(via: string, d: string): Promise<string> { return this.run('route', 'replace', 'default', 'via', ip(via), 'dev', dev(d)); }
  async delLink(d: string): Promise<string> { return this.run('link', 'del', 'dev', dev(d)); }
  /** A route through `d` to `dst` (a prefix or `default`), via a gateway when given. */
  async replaceRoute(dst: string, d: string, via?: string): Promise<string> {
    return this.run('route', 'replace', dst === 'default' ? 'default' : cidr(dst), ...(via ? ['via', ip(via)] : []), 'dev', dev(d));
  }
  /** The interface's alias (ifalias), a free text kept by the kernel: one argument, no newline. */
  async setAlias(d: string, alias: string): Promise<string> {
    return this.run('link', 'set', 'dev', dev(d), 'alias', arg(alias, (s) => /^[\x20-\x7e]{1,255}$/.test(s), 'alias'));
  }

  /**
   * A veth pair: `name` here, `peer` moved into namespace `peerNs` with `peerMac`. Both get
   * `mtu`. The peer namespace is named, so it is found whatever namespace `ip` runs in.
   */
  async addVeth(name: string, peer: string, peerNs: string, peerMac: string, mtu: number): Promise<void> {
    const m = String(Math.trunc(mtu));
    await this.run('link', 'add', 'name', dev(name), 'mtu', m, 'type', 'veth',
      'peer', 'name', dev(peer), 'address', arg(peerMac, isMac, 'MAC'), 'mtu', m, 'netns', ns(peerNs));
  }
}

/** Namespaces by name (`ip netns`). */
export const netns = {
  async list(): Promise<string[]> {
    const raw = await new Ip().json<{ name: string }[]>('netns', 'list');
    return raw.map((n) => n.name);
  },
  async exists(name: string): Promise<boolean> {
    return (await netns.list()).includes(name);
  },
  async add(name: string): Promise<void> {
    await new Ip().run('netns', 'add', ns(name));
    await new Ip(name).setUp('lo');
  },
  async del(name: string): Promise<void> {
    try { await new Ip().run('netns', 'del', ns(name)); } catch (e) { if (!/No such file/.test(String(e))) throw e; }
  },
  /** Runs a command inside a namespace (`ip netns exec NAME cmd…`); returns stdout. */
  async exec(name: string, cmd: string, args: string[], timeoutMs = 15000): Promise<string> {
    const { stdout } = await exec('ip', ['netns', 'exec', ns(name), cmd, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 });
    return stdout;
  },
};
