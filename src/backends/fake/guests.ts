// In-memory guest driver: a "running VM" is a set of host-side links `vif<domid>.<device>`
// registered on the fake host (or in-memory switch), so ports for them come up without errors.
import type { GuestDriver, GuestVif, GuestVm } from '../contract.js';

/** Where the guests' host-side links appear: the fake host, or the in-memory OVS switch. */
export interface LinkTable {
  addLink(name: string, mac: string, mtu?: number): void;
  removeLink(name: string): void;
}

export class FakeGuests implements GuestDriver {
  private readonly vms = new Map<string, { domid: number; vifs: Map<number, string> }>();

  constructor(private readonly host: LinkTable) {}

  keyOf(vmUuid: string): string { return vmUuid; }

  async startVm(vm: GuestVm, vifs: GuestVif[]): Promise<void> {
    if (!this.vms.has(vm.uuid)) this.vms.set(vm.uuid, { domid: vm.domid, vifs: new Map() });
    for (const v of vifs) await this.plugVif(vm, v);
  }

  async plugVif(vm: GuestVm, vif: GuestVif): Promise<void> {
    let e = this.vms.get(vm.uuid);
    if (!e) { e = { domid: vm.domid, vifs: new Map() }; this.vms.set(vm.uuid, e); }
    if (e.vifs.has(vif.device)) return;
    e.vifs.set(vif.device, vif.hostDev);
    // The backend MAC of a Xen vif is fe:ff:ff:ff:ff:ff (Xen's netback); the guest sees vif.mac.
    this.host.addLink(vif.hostDev, 'fe:ff:ff:ff:ff:ff', vif.mtu);
  }

  async unplugVif(key: string, vif: Pick<GuestVif, 'device' | 'hostDev'>): Promise<void> {
    const e = this.vms.get(key);
    if (!e?.vifs.delete(vif.device)) return;
    this.host.removeLink(vif.hostDev);
  }

  async stopVm(key: string): Promise<void> {
    const e = this.vms.get(key);
    if (!e) return;
    for (const [device, hostDev] of [...e.vifs]) await this.unplugVif(key, { device, hostDev });
    this.vms.delete(key);
  }

  async list(): Promise<Map<string, { domid: number; devices: number[] }>> {
    return new Map([...this.vms].map(([u, e]) => [u, { domid: e.domid, devices: [...e.vifs.keys()].sort((a, b) => a - b) }]));
  }
}
