// Builds consistent pool records by hand (inverse fields included) for tests that drive the
// agent without a server. Mirrors what the master's rules produce, not more.
import { randomUUID } from 'node:crypto';
import type { Rec } from '../idl/meta.js';
import { emptyPool, NULL, type PoolRecords } from './records.js';

const ref = () => `OpaqueRef:${randomUUID()}`;

export interface PifOpts {
  attached?: boolean;
  mode?: 'None' | 'DHCP' | 'Static';
  IP?: string;
  netmask?: string;
  gateway?: string;
  DNS?: string;
  management?: boolean;
  MAC?: string;
  other_config?: Record<string, string>;
}

export class PoolBuilder {
  readonly records: PoolRecords = emptyPool();

  /** A record made earlier; a ref this builder never made is a mistake in the test. */
  rec(cls: keyof PoolRecords, r: string): Rec {
    const found = this.records[cls][r];
    if (!found) throw new Error(`PoolBuilder: no ${cls} ${r}`);
    return found;
  }

  host(uuid: string = randomUUID(), name = 'host'): string {
    const r = ref();
    this.records.host[r] = { uuid, name_label: name, PIFs: [] };
    return r;
  }

  network(bridge: string, MTU = 1500, other_config: Record<string, string> = {}): string {
    const r = ref();
    this.records.network[r] = { uuid: randomUUID(), bridge, MTU, other_config, PIFs: [], VIFs: [], managed: true, default_locking_mode: 'unlocked' };
    return r;
  }

  private pif(host: string, device: string, network: string, extra: Rec, o: PifOpts): string {
    const r = ref();
    this.records.PIF[r] = {
      uuid: randomUUID(), device, network, host, MAC: o.MAC ?? '', MTU: 1500, VLAN: -1, physical: false,
      currently_attached: o.attached ?? true, ip_configuration_mode: o.mode ?? 'None', IP: o.IP ?? '', netmask: o.netmask ?? '',
      gateway: o.gateway ?? '', DNS: o.DNS ?? '', management: o.management ?? false, managed: true,
      bond_slave_of: NULL, bond_master_of: [], VLAN_master_of: NULL, VLAN_slave_of: [], tunnel_access_PIF_of: [],
      tunnel_transport_PIF_of: [], other_config: o.other_config ?? {}, ...extra,
    };
    (this.rec('host', host).PIFs as string[]).push(r);
    (this.rec('network', network).PIFs as string[]).push(r);
    return r;
  }

  physical(host: string, device: string, network: string, o: PifOpts = {}): string {
    return this.pif(host, device, network, { physical: true }, o);
  }

  bond(host: string, network: string, slaves: string[], mode = 'balance-slb', properties: Record<string, string> = {}, o: PifOpts = {}): { bond: string; master: string } {
    const b = ref();
    const n = Object.values(this.records.Bond).filter((x) => this.records.PIF[x.master as string]?.host === host).length;
    const master = this.pif(host, `bond${n}`, network, { bond_master_of: [b] }, o);
    this.records.Bond[b] = { uuid: randomUUID(), master, slaves: [...slaves], mode, properties, primary_slave: slaves[0] ?? NULL };
    for (const s of slaves) Object.assign(this.rec('PIF', s), { bond_slave_of: b, currently_attached: false });
    return { bond: b, master };
  }

  vlan(host: string, tagged: string, network: string, tag: number, o: PifOpts = {}): string {
    const v = ref();
    const device = this.rec('PIF', tagged).device as string;
    const untagged = this.pif(host, device, network, { VLAN: tag, VLAN_master_of: v, MAC: 'fe:ff:ff:ff:ff:ff' }, o);
    this.records.VLAN[v] = { uuid: randomUUID(), tagged_PIF: tagged, untagged_PIF: untagged, tag };
    (this.rec('PIF', tagged).VLAN_slave_of as string[]).push(v);
    return untagged;
  }

  tunnel(host: string, transport: string, network: string, protocol: 'gre' | 'vxlan' = 'gre', o: PifOpts = {}): string {
    const t = ref();
    const n = Object.values(this.records.tunnel).filter((x) => this.records.PIF[x.access_PIF as string]?.host === host).length;
    const access = this.pif(host, `tunnel${n}`, network, { tunnel_access_PIF_of: [t] }, o);
    this.records.tunnel[t] = { uuid: randomUUID(), access_PIF: access, transport_PIF: transport, protocol, status: { active: 'false' } };
    (this.rec('PIF', transport).tunnel_transport_PIF_of as string[]).push(t);
    return access;
  }

  vm(host: string, domid: number, running = true, uuid: string = randomUUID()): string {
    const r = ref();
    this.records.VM[r] = { uuid, power_state: running ? 'Running' : 'Halted', resident_on: running ? host : NULL, domid: running ? domid : -1, VIFs: [] };
    return r;
  }

  vif(vm: string, network: string, device: number, MAC: string, extra: Rec = {}): string {
    const r = ref();
    this.records.VIF[r] = {
      uuid: randomUUID(), VM: vm, network, device: String(device), MAC, currently_attached: this.rec('VM', vm).power_state === 'Running',
      locking_mode: 'network_default', ipv4_allowed: [], ipv6_allowed: [], other_config: {}, ...extra,
    };
    (this.rec('VM', vm).VIFs as string[]).push(r);
    (this.rec('network', network).VIFs as string[]).push(r);
    return r;
  }

  set(cls: keyof PoolRecords, r: string, fields: Rec): void {
    Object.assign(this.rec(cls, r), fields);
  }
}
