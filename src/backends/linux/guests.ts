// The `netns` guest driver (the lab's): a running VM is a network namespace
// `<prefix>vm-<first 8 of VM uuid>` holding one `eth<device>` per plugged VIF, each the peer of
// a veth whose host side `vif<domid>.<device>` lives in the host's namespace, where the agent
// makes it an OVS port. State is found again after a restart: the namespace's `lo` alias
// records the owning host and the domid, each guest side's alias its host-side name.
// A migration moves the namespace, as a live migration moves the guest's memory: the new host
// takes over a namespace another host owns, and a guest interface it makes again keeps the
// addresses and routes the guest had configured on it.
import type { GuestAddresses, GuestDriver, GuestVif, GuestVm } from '../contract.js';
import { Ip, IpError, netns, type AddrInfo, type IpRoute } from './ip.js';

/** Name of a VM's namespace (exported for the lab's `exec`). */
export function vmNamespaceName(prefix: string, vmUuid: string): string {
  return `${prefix}vm-${vmUuid.replace(/-/g, '').slice(0, 8)}`;
}

export interface NetnsGuestsOptions {
  /** Prefix of every namespace this driver creates (the lab's prefix). */
  prefix: string;
  /** The host's namespace, where the host-side veth ends go (undefined = this process's). */
  hostNetns?: string;
  /**
   * Who owns the VM namespaces this driver makes (default: the host namespace's name, or
   * 'local'). Several hosts' agents on one machine share the namespace list: each only
   * lists and removes its own.
   */
  owner?: string;
}

const missing = (e: unknown) => e instanceof IpError && /Cannot find device|does not exist|No such device/i.test(e.stderr);

export class NetnsGuests implements GuestDriver {
  private readonly host: Ip;
  private readonly owner: string;

  constructor(private readonly opts: NetnsGuestsOptions) {
    this.host = new Ip(opts.hostNetns);
    this.owner = opts.owner ?? opts.hostNetns ?? 'local';
  }

  /** Owner and domid recorded in the namespace's `lo` alias, or undefined. */
  private async tagOf(ns: string): Promise<{ owner: string; domid: number } | undefined> {
    try {
      const [lo] = await new Ip(ns).json<{ ifalias?: string }[]>('link', 'show', 'dev', 'lo');
      const m = /^xcpnet-guest owner=(\S+) domid=(\d+)$/.exec(lo?.ifalias ?? '');
      return m ? { owner: m[1]!, domid: Number(m[2]) } : undefined;
    } catch { return undefined; }
  }

  keyOf(vmUuid: string): string {
    return vmNamespaceName(this.opts.prefix, vmUuid);
  }

  async startVm(vm: GuestVm, vifs: GuestVif[]): Promise<void> {
    await this.ensureNs(vm);
    for (const v of vifs) await this.plugVif(vm, v);
  }

  async plugVif(vm: GuestVm, vif: GuestVif): Promise<void> {
    const ns = await this.ensureNs(vm);
    const guest = new Ip(ns);
    const inside = `eth${vif.device}`;
    // Clean slate: a leftover host side (e.g. from a crashed run) would block the veth. A guest
    // side still there (its host side on the host the VM came from) is made again here, with
    // the guest's own configuration.
    const kept = await guestConfig(guest, inside);
    try { await this.host.delLink(vif.hostDev); } catch (e) { if (!missing(e)) throw e; }
    try { await guest.delLink(inside); } catch (e) { if (!missing(e)) throw e; }
    await this.host.addVeth(vif.hostDev, inside, ns, vif.mac, vif.mtu);
    await guest.setAlias(inside, vif.hostDev);
    await guest.setUp(inside);
    await this.host.setUp(vif.hostDev);
    for (const a of kept.addrs) await guest.addAddr(inside, a);
    for (const r of kept.routes) {
      try { await guest.replaceRoute(r.dst, inside, r.gateway); } catch { /* a gateway no longer on-link: the guest's own affair */ }
    }
  }

  /** The VM's namespace, created if needed; its `lo` alias records the domid. */
  private async ensureNs(vm: GuestVm): Promise<string> {
    const ns = this.keyOf(vm.uuid);
    if (await netns.exists(ns)) {
      const tag = await this.tagOf(ns);
      if (tag?.owner === this.owner && tag.domid === vm.domid) return ns;
      if (tag && tag.owner !== this.owner) {
        // Another host's guest of this VM: the VM moved here, and its guest comes along.
        await new Ip(ns).setAlias('lo', `xcpnet-guest owner=${this.owner} domid=${vm.domid}`);
        return ns;
      }
      await netns.del(ns); // an older domain of this host's
    }
    await netns.add(ns);
    await new Ip(ns).setAlias('lo', `xcpnet-guest owner=${this.owner} domid=${vm.domid}`);
    return ns;
  }

  async unplugVif(key: string, vif: Pick<GuestVif, 'device' | 'hostDev'>): Promise<void> {
    // Deleting one end removes the pair.
    try { await this.host.delLink(vif.hostDev); } catch (e) { if (!missing(e)) throw e; }
    if (await netns.exists(key)) {
      try { await new Ip(key).delLink(`eth${vif.device}`); } catch (e) { if (!missing(e)) throw e; }
    }
  }

  async stopVm(key: string): Promise<void> {
    if (!key.startsWith(`${this.opts.prefix}vm-`)) return; // never anything we did not name
    if ((await this.tagOf(key))?.owner !== this.owner) return; // another host's guest
    await netns.del(key); // the veths die with their guest ends
  }

  async addresses(key: string): Promise<GuestAddresses[]> {
    if (!key.startsWith(`${this.opts.prefix}vm-`) || (await this.tagOf(key))?.owner !== this.owner) return [];
    const out: GuestAddresses[] = [];
    try {
      for (const l of await new Ip(key).json<{ ifname: string; addr_info?: AddrInfo[] }[]>('addr', 'show')) {
        const m = /^eth(\d+)$/.exec(l.ifname);
        if (!m) continue;
        const global = (l.addr_info ?? []).filter((a) => a.scope === 'global');
        out.push({ device: Number(m[1]), v4: global.filter((a) => a.family === 'inet').map((a) => a.local), v6: global.filter((a) => a.family === 'inet6').map((a) => a.local) });
      }
    } catch { return []; } // the guest went meanwhile: it has no addresses
    return out.sort((a, b) => a.device - b.device);
  }

  async list(): Promise<Map<string, { domid: number; devices: number[] }>> {
    const out = new Map<string, { domid: number; devices: number[] }>();
    for (const ns of await netns.list()) {
      if (!ns.startsWith(`${this.opts.prefix}vm-`)) continue;
      const tag = await this.tagOf(ns);
      if (tag?.owner !== this.owner) continue;
      const devices: number[] = [];
      try {
        for (const l of await new Ip(ns).json<{ ifname: string; ifalias?: string }[]>('link', 'show')) {
          const m = /^eth(\d+)$/.exec(l.ifname);
          if (m && /^vif\d+\.\d+$/.test(l.ifalias ?? '')) devices.push(Number(m[1]));
        }
      } catch { /* namespace vanished meanwhile */ }
      out.set(ns, { domid: tag.domid, devices: devices.sort((a, b) => a - b) });
    }
    return out;
  }
}

/** Addresses and routes the guest configured on an interface (none when it has no such interface). */
async function guestConfig(guest: Ip, dev: string): Promise<{ addrs: string[]; routes: IpRoute[] }> {
  try {
    const [link] = await guest.json<{ addr_info?: AddrInfo[] }[]>('addr', 'show', 'dev', dev);
    // Link-local IPv6 comes back by itself (same MAC); the kernel's own routes with the addresses.
    const addrs = (link?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`);
    const routes: IpRoute[] = [];
    for (const family of ['-4', '-6']) {
      for (const r of await guest.json<IpRoute[]>(family, 'route', 'show', 'dev', dev)) if (r.protocol !== 'kernel' && r.dst) routes.push(r);
    }
    return { addrs, routes };
  } catch (e) {
    if (missing(e)) return { addrs: [], routes: [] };
    throw e;
  }
}

/** The lab names hosts `<prefix>host<N>` and guests `<prefix>vm-…`: the guest prefix for a host namespace. */
export function guestPrefixFor(hostNetns: string | undefined): string | undefined {
  const m = hostNetns ? /^(.*)host\d+$/.exec(hostNetns) : null;
  return m ? m[1] : undefined;
}
