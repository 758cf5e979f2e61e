// One reconcile pass: guests up → the driver realises the document → guests down, and the
// report for the master. The diff of guests and the report are pure; I/O stays in reconcile().
import type { GuestAddresses, GuestDriver, GuestVif, GuestVm, HostDriver, HostState, RealiseResult, StrMap } from '../backends/contract.js';
import { bridgeListings } from '../backends/contract.js';
import { REPORT_LIMITS, type HostReport, type Nic } from '../protocol/host-agent.js';
import type { Desired } from './desired.js';

export interface GuestPlan {
  start: { vm: GuestVm; vifs: GuestVif[]; refs: string[] }[];
  plug: { vm: GuestVm; vif: GuestVif; ref: string }[];
  unplug: { key: string; device: number; hostDev: string }[];
  stop: string[];
}

/**
 * Pure: wanted VMs/VIFs vs what the guest driver has. A domid change means a restart. A guest
 * not wanted here is stopped unless its VM's domain is on another host now (`elsewhere`, the
 * uuids of such VMs, asked only when there is such a guest): that host takes it over.
 */
export function planGuests(d: Desired, have: Map<string, { domid: number; devices: number[] }>, keyOf: (u: string) => string,
  elsewhere: () => string[] = () => []): GuestPlan {
  const plan: GuestPlan = { start: [], plug: [], unplug: [], stop: [] };
  const wantKeys = new Set<string>();
  for (const vm of d.vms) {
    const key = keyOf(vm.uuid);
    wantKeys.add(key);
    const vifs = d.doc.vifs.filter((v) => v.vmUuid === vm.uuid);
    const gv = (v: (typeof vifs)[number]): GuestVif => ({ device: v.device, mac: v.mac, mtu: v.mtu, hostDev: v.name });
    const h = have.get(key);
    const g: GuestVm = { uuid: vm.uuid, domid: vm.domid };
    if (!h || (h.domid >= 0 && h.domid !== vm.domid)) {
      if (h) plan.stop.unshift(key); // stop before start (same key)
      plan.start.push({ vm: g, vifs: vifs.map(gv), refs: vifs.map((v) => v.owner) });
      continue;
    }
    const wantDev = new Set(vifs.map((v) => v.device));
    for (const v of vifs) if (!h.devices.includes(v.device)) plan.plug.push({ vm: g, vif: gv(v), ref: v.owner });
    for (const dev of h.devices) if (!wantDev.has(dev)) plan.unplug.push({ key, device: dev, hostDev: `vif${h.domid}.${dev}` });
  }
  // A guest whose VM now has its domain on another host moved (a migration): that host's guest
  // driver takes it over with its state, so it is not stopped here.
  const unwanted = [...have.keys()].filter((key) => !wantKeys.has(key));
  const movedAway = new Set(unwanted.length > 0 ? elsewhere().map(keyOf) : []);
  for (const key of unwanted) if (!movedAway.has(key)) plan.stop.push(key);
  return plan;
}

export interface ReconcileResult extends RealiseResult {}

const msg = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function reconcile(d: Desired, driver: HostDriver, guests: GuestDriver | undefined,
  log: (m: string) => void = () => {}, elsewhere?: () => string[]): Promise<ReconcileResult> {
  const errors: StrMap = { ...d.errors };
  const fail = (ref: string, m: string) => { if (ref) errors[ref] ??= m; };
  let gp: GuestPlan | undefined;
  if (guests) {
    gp = planGuests(d, await guests.list(), (u) => guests.keyOf(u), elsewhere);
    // Restarts (domid changed) stop first; new interfaces must exist before their ports.
    const restarting = new Set(gp.start.map((s) => guests.keyOf(s.vm.uuid)));
    for (const key of gp.stop.filter((k) => restarting.has(k))) {
      try { await guests.stopVm(key); } catch (e) { log(`guest ${key}: stop failed: ${msg(e)}`); }
    }
    for (const s of gp.start) {
      try { await guests.startVm(s.vm, s.vifs); log(`guest ${s.vm.uuid} (domid ${s.vm.domid}) started with ${s.vifs.length} VIF(s)`); }
      catch (e) { for (const r of s.refs) fail(r, `guest interfaces of VM ${s.vm.uuid}: ${msg(e)}`); }
    }
    for (const p of gp.plug) {
      try { await guests.plugVif(p.vm, p.vif); log(`guest ${p.vm.uuid}: plugged ${p.vif.hostDev}`); }
      catch (e) { fail(p.ref, `plug ${p.vif.hostDev}: ${msg(e)}`); }
    }
  }
  // The guests' interfaces were just made: the driver's look must not wait for the kernel's word.
  if (gp) driver.markKernelDirty?.([...gp.start.flatMap((s) => s.vifs.map((v) => v.hostDev)), ...gp.plug.map((p) => p.vif.hostDev)]);
  const r = await driver.realise(d.doc);
  for (const c of r.changes) log(c);
  for (const [ref, m] of Object.entries(r.errors)) fail(ref, m);
  if (guests && gp) {
    const restarting = new Set(gp.start.map((s) => guests.keyOf(s.vm.uuid)));
    for (const u of gp.unplug) {
      try { await guests.unplugVif(u.key, u); log(`guest ${u.key}: unplugged ${u.hostDev}`); } catch (e) { log(`unplug ${u.hostDev}: ${msg(e)}`); }
    }
    for (const key of gp.stop.filter((k) => !restarting.has(k))) {
      try { await guests.stopVm(key); log(`guest ${key} stopped`); } catch (e) { log(`guest ${key}: stop failed: ${msg(e)}`); }
    }
    driver.markKernelDirty?.(gp.unplug.map((u) => u.hostDev));
  }
  return { ...r, errors };
}

/** Dotted netmask of a prefix length. */
function netmaskOf(bits: number): string {
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((s) => (mask >>> s) & 255).join('.');
}

/** Pure: the report of host.report_network_state (agent-protocol.md). */
export function buildReport(d: Desired, state: HostState, errors: StrMap, backend: HostDriver['kind'], nics: Nic[]): HostReport {
  const bridge = new Map(state.bridges.map((b) => [b.name, b]));
  const PIFs: HostReport['PIFs'] = {};
  for (const p of d.pifs) {
    if (errors[p.ref]) continue;
    const b = bridge.get(p.bridge);
    const entry: HostReport['PIFs'][string] = { MTU: b?.mtu ?? p.mtu };
    const addr = b?.addrs[0];
    if (p.mode === 'DHCP' && addr) {
      const [ip, len] = addr.split('/');
      entry.IP = ip!;
      entry.netmask = netmaskOf(Number(len));
    }
    PIFs[p.ref] = entry;
  }
  const Bonds: HostReport['Bonds'] = {};
  for (const b of d.bonds) {
    const uplink = bridge.get(b.bridge)?.uplink;
    Bonds[b.ref] = { links_up: uplink?.members.filter((m) => m.up).length ?? 0, ...(uplink?.active !== undefined ? { active_member: uplink.active } : {}) };
  }
  // A message is cut to what the master takes, so one long message cannot lose the whole report.
  const cut = Object.fromEntries(Object.entries(errors).map(([ref, m]) => [ref, m.length > REPORT_LIMITS.text ? `${m.slice(0, REPORT_LIMITS.text - 3)}...` : m]));
  return { backend, nics, errors: cut, PIFs, Bonds, bridges: bridgeListings(state) };
}

/** Addresses of one family a guest interface reports at most (xapi keys them by index). */
const MAX_GUEST_ADDRESSES = 16;

/**
 * Pure: a guest's addresses as VM_guest_metrics.networks keys them (xen-api:
 * ocaml/xapi/xapi_guest_agent.ml): `<device>/ip` and `<device>/ipv4/<n>` for IPv4 (the first
 * under both), `<device>/ipv6/<n>` for IPv6.
 */
export function guestNetworksOf(ifaces: GuestAddresses[], devices?: ReadonlySet<number>): Record<string, string> {
  const out: Record<string, string> = {};
  // Only the VM's own VIFs, and no more keys than the master takes: whatever a guest makes
  // inside itself (eth123456, many interfaces full of addresses) never loses its host's report.
  for (const i of ifaces.filter((x) => !devices || devices.has(x.device)).sort((a, b) => a.device - b.device)) {
    const v4 = i.v4.slice(0, MAX_GUEST_ADDRESSES);
    if (v4[0] !== undefined) out[`${i.device}/ip`] = v4[0];
    v4.forEach((a, n) => { out[`${i.device}/ipv4/${n}`] = a; });
    i.v6.slice(0, MAX_GUEST_ADDRESSES).forEach((a, n) => { out[`${i.device}/ipv6/${n}`] = a; });
  }
  return Object.fromEntries(Object.entries(out).slice(0, REPORT_LIMITS.guestAddresses));
}

/** What the guest driver sees inside the guests of `d`: VM ref → networks (undefined: it cannot look). */
export async function guestNetworks(d: Desired, guests: GuestDriver | undefined): Promise<Record<string, Record<string, string>> | undefined> {
  if (!guests?.addresses) return undefined;
  const out: Record<string, Record<string, string>> = {};
  for (const vm of d.vms) {
    const devices = new Set(d.doc.vifs.filter((v) => v.vmUuid === vm.uuid).map((v) => v.device));
    out[vm.ref] = guestNetworksOf(await guests.addresses(guests.keyOf(vm.uuid)), devices);
  }
  return out;
}
