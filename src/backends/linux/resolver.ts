// The host's resolver configuration from the management PIF's DNS (static, or from its DHCP
// lease): written atomically (a temporary file renamed over it), and only when its content
// changes. On a real host it is /etc/resolv.conf, and only when the agent manages the host's
// network (--manage-nics); in the lab each host namespace has its own file,
// /etc/netns/<namespace>/resolv.conf, which `ip netns exec` shows as /etc/resolv.conf inside
// that namespace: the machine's own resolver is never touched. A resolv.conf that is a symbolic
// link belongs to a resolver service (systemd-resolved, resolvconf): it is left alone, said once.
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isDnsName, isIPv4, isIPv6 } from '../../common/net-syntax.js';

/** Pure: resolv.conf(5) text, or undefined when there is nothing to say. At most 3 servers, 6 domains. */
export function resolvConf(dns: { servers: string[]; search: string[] }): string | undefined {
  const servers = dns.servers.filter((s) => isIPv4(s) || isIPv6(s)).slice(0, 3);
  const search = dns.search.filter(isDnsName).slice(0, 6);
  if (servers.length === 0 && search.length === 0) return undefined;
  return ['# Written by the xcpnet agent from the management interface\'s DNS.',
    ...(search.length ? [`search ${search.join(' ')}`] : []), ...servers.map((s) => `nameserver ${s}`)].join('\n') + '\n';
}

/** The resolver file of a host: the machine's, or the lab namespace's. */
export function resolverPath(netns?: string): string {
  return netns ? join('/etc/netns', netns, 'resolv.conf') : '/etc/resolv.conf';
}

export class ResolverFile {
  private last?: string;
  private warned = false;

  constructor(readonly path: string, private readonly log: (m: string) => void = () => {}) {}

  /** Writes the resolver configuration when it changed; false when it was left alone. */
  write(dns: { servers: string[]; search: string[] } | undefined): boolean {
    const text = dns ? resolvConf(dns) : undefined;
    if (text === undefined || text === this.last) return false;
    try {
      if (existsSync(this.path) && lstatSync(this.path).isSymbolicLink()) {
        if (!this.warned) this.log(`resolver: ${this.path} is a symbolic link (a resolver service owns it): not written`);
        this.warned = true;
        return false;
      }
      if (existsSync(this.path) && readFileSync(this.path, 'utf8') === text) { this.last = text; return false; }
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
      const tmp = `${this.path}.xcpnet-tmp`;
      writeFileSync(tmp, text, { mode: 0o644 });
      renameSync(tmp, this.path);
      this.last = text;
      this.log(`resolver: ${this.path} written (${text.trim().split('\n').slice(1).join('; ')})`);
      return true;
    } catch (e) {
      this.log(`resolver: cannot write ${this.path}: ${(e as Error).message}`);
      return false;
    }
  }
}
