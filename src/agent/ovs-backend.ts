// The real host backend: Open vSwitch through our OVSDB client (one session, a monitor
// replica of Bridge/Port/Interface) for the switch, iproute2 for links, addresses and routes.
import { existsSync } from 'node:fs';
import { OvsdbClient, type Monitor } from '../backends/ovsdb/index.js';
import { Ip } from '../backends/linux/ip.js';
import { discoverNics } from '../backends/linux/nics.js';
import { applyOvs } from './apply-ovs.js';
import {
  actionOwner, describeAction, isOvsAction, type Action, type ApplyResult, type BridgeInfo, type HostBackend,
  type NicInfo, type ObsLink, type ObservedState, type OvsAction, type StrMap,
} from './model.js';
import { MONITORED, observeOvs, type PlainRow } from './observe.js';

export interface OvsBackendOptions {
  /** OVSDB endpoint, e.g. `unix:/run/openvswitch/db.sock`. */
  ovsdb: string;
  /** The host's network namespace (links, addresses and routes are managed there). */
  netns?: string;
  /** 'auto' (default): kernel datapath when the openvswitch module is loaded, else userspace. */
  datapath?: 'auto' | 'system' | 'netdev';
  /** Bound on waiting for ovs-vswitchd to apply a transaction (default 15000 ms). */
  applyTimeoutMs?: number;
  /** Label for the comment op of each transaction. */
  label?: string;
}

export function detectDatapath(pref: OvsBackendOptions['datapath'] = 'auto'): string {
  if (pref === 'system') return '';
  if (pref === 'netdev') return 'netdev';
  return existsSync('/sys/module/openvswitch') ? '' : 'netdev';
}

export class OvsBackend implements HostBackend {
  readonly kind = 'openvswitch' as const;
  /** OVSDB write transactions performed by apply (tests count them). */
  transactions = 0;
  readonly ip: Ip;

  private constructor(
    readonly client: OvsdbClient,
    private readonly monitor: Monitor,
    readonly datapathType: string,
    private readonly opts: OvsBackendOptions,
  ) {
    this.ip = new Ip(opts.netns);
  }

  static async open(opts: OvsBackendOptions): Promise<OvsBackend> {
    const client = await OvsdbClient.connect(opts.ovsdb);
    try {
      const monitor = await client.monitor('Open_vSwitch', MONITORED);
      return new OvsBackend(client, monitor, detectDatapath(opts.datapath), opts);
    } catch (e) {
      client.close();
      throw e;
    }
  }

  private tables() {
    const r = this.monitor.replica;
    return {
      Bridge: r.rows('Bridge') as Readonly<PlainRow>[],
      Port: r.rows('Port') as Readonly<PlainRow>[],
      Interface: r.rows('Interface') as Readonly<PlainRow>[],
    };
  }

  async observe(): Promise<ObservedState> {
    await this.monitor.synced();
    const sw = observeOvs(this.tables());
    const [links, addrs, defaultRoute] = await Promise.all([this.ip.links(), this.ip.addrs(), this.ip.defaultRoute()]);
    const obsLinks = new Map<string, ObsLink>();
    for (const l of links) {
      obsLinks.set(l.ifname, { name: l.ifname, up: l.flags.includes('UP'), mtu: l.mtu, mac: (l.address ?? '').toLowerCase(), addrs: addrs.get(l.ifname) ?? [] });
    }
    return { ...sw, links: obsLinks, ...(defaultRoute ? { defaultRoute } : {}) };
  }

  async apply(actions: Action[]): Promise<ApplyResult> {
    const errors: StrMap = {};
    let transactions = 0;
    const sw = actions.filter(isOvsAction) as OvsAction[];
    if (sw.length > 0) {
      const r = await applyOvs(this.client, sw, { comment: this.opts.label ?? 'xcpnet-agent', timeoutMs: this.opts.applyTimeoutMs ?? 15000 });
      Object.assign(errors, r.errors);
      transactions += r.transactions;
      this.transactions += r.transactions;
    }
    for (const a of actions) {
      if (isOvsAction(a)) continue;
      try {
        switch (a.kind) {
          case 'link-up': await this.ip.setUp(a.dev); break;
          case 'addr-add': await this.ip.addAddr(a.dev, a.cidr); break;
          case 'addr-del': await this.ip.delAddr(a.dev, a.cidr); break;
          case 'route-default': await this.ip.replaceDefaultRoute(a.via, a.dev); break;
        }
      } catch (e) {
        const owner = actionOwner(a);
        if (owner) errors[owner] ??= `${describeAction(a)}: ${(e as Error).message}`;
      }
    }
    return { errors, transactions };
  }

  nics(): Promise<NicInfo[]> {
    return discoverNics(this.ip);
  }

  /** Members whose link is up (OVS keeps per-member enabled state out of the database; link_state is the best DB-side proxy). */
  async bondLinksUp(_port: string, members: string[]): Promise<number> {
    const ifs = this.tables().Interface;
    return members.filter((m) => ifs.some((i) => i.name === m && i.link_state === 'up')).length;
  }

  async bridges(): Promise<BridgeInfo[]> {
    const { bridges, ports } = observeOvs(this.tables());
    const out: BridgeInfo[] = [];
    for (const b of bridges.values()) {
      const ps = b.ports.map((n) => ports.get(n)!).filter(Boolean);
      out.push({ name: b.name, id: b.uuid, stp: false, interfaces: ps.filter((p) => p.tag === null && p.name !== b.name).flatMap((p) => p.interfaces.map((i) => i.name)) });
      for (const f of ps.filter((p) => p.fake_bridge)) {
        out.push({ name: f.name, id: f.uuid, stp: false, interfaces: ps.filter((p) => p.tag === f.tag && !p.fake_bridge).flatMap((p) => p.interfaces.map((i) => i.name)) });
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  onChange(cb: () => void): () => void {
    return this.monitor.onChange(() => cb());
  }

  async close(): Promise<void> {
    try { await this.monitor.cancel(); } catch { /* closing anyway */ }
    this.client.close();
  }
}
