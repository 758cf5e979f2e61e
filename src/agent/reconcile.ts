// One reconcile pass: guests up → observe → plan → apply → observe → guests down, and the
// report for the master. The diff of guests and the report are pure; I/O stays in reconcile().
import type {
  Action, GuestDriver, GuestVif, GuestVm, HostBackend, HostNetConfig, ObservedState, StrMap,
} from './model.js';
import { describeAction } from './model.js';
import { findConflicts, planChanges, realisationErrors } from './plan.js';
import type { Rollback } from './confirm.js';

export interface GuestPlan {
  start: { vm: GuestVm; vifs: GuestVif[]; refs: string[] }[];
  plug: { vm: GuestVm; vif: GuestVif; ref: string }[];
  unplug: { key: string; device: number; hostDev: string }[];
  stop: string[];
}

/** Pure: wanted VMs/VIFs vs what the guest driver has. A domid change means a restart. */
export function planGuests(cfg: HostNetConfig, have: Map<string, { domid: number; devices: number[] }>, keyOf: (u: string) => string): GuestPlan {
  const plan: GuestPlan = { start: [], plug: [], unplug: [], stop: [] };
  const wantKeys = new Set<string>();
  for (const vm of cfg.vms) {
    const key = keyOf(vm.uuid);
    wantKeys.add(key);
    const vifs = cfg.vifs.filter((v) => v.vmUuid === vm.uuid);
    const gv = (v: (typeof vifs)[number]): GuestVif => ({ device: v.device, mac: v.mac, mtu: v.mtu, hostDev: v.hostDev });
    const h = have.get(key);
    const g: GuestVm = { uuid: vm.uuid, domid: vm.domid };
    if (!h || (h.domid >= 0 && h.domid !== vm.domid)) {
      if (h) plan.stop.unshift(key); // stop before start (same key)
      plan.start.push({ vm: g, vifs: vifs.map(gv), refs: vifs.map((v) => v.ref) });
      continue;
    }
    const wantDev = new Set(vifs.map((v) => v.device));
    for (const v of vifs) if (!h.devices.includes(v.device)) plan.plug.push({ vm: g, vif: gv(v), ref: v.ref });
    for (const d of h.devices) if (!wantDev.has(d)) plan.unplug.push({ key, device: d, hostDev: `vif${h.domid}.${d}` });
  }
  for (const key of have.keys()) if (!wantKeys.has(key)) plan.stop.push(key);
  return plan;
}

/**
 * Pure: can this action change the part of the kernel view a pass reads after applying (the
 * bridges' own devices: their MTU, addresses; routes)? Ports whose interfaces are not internal
 * (VIFs, NICs, bond members, tunnels) cannot; bridges, internal interfaces and the iproute2
 * actions can. When no action can, the view read before applying is reused, not read again.
 */
export function touchesKernel(a: Action, before: ObservedState): boolean {
  const internal = (types: string[]) => types.some((t) => t === 'internal');
  switch (a.kind) {
    case 'add-port': return internal(a.port.interfaces.map((i) => i.type));
    case 'update-port': case 'del-port': {
      const p = before.ports.get(a.name);
      return !p || internal(p.interfaces.map((i) => i.type));
    }
    case 'update-iface': {
      const i = [...before.ports.values()].flatMap((p) => p.interfaces).find((x) => x.name === a.name);
      return !i || i.type === 'internal';
    }
    default: return true;
  }
}

export interface ReconcileResult {
  actions: Action[];
  errors: StrMap;
  observed: ObservedState;
  transactions: number;
}

const msg = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function reconcile(cfg: HostNetConfig, backend: HostBackend, guests: GuestDriver | undefined,
  log: (m: string) => void = () => {}): Promise<ReconcileResult> {
  const errors: StrMap = { ...cfg.errors };
  const fail = (ref: string, m: string) => { if (ref) errors[ref] ??= m; };
  let gp: GuestPlan | undefined;
  if (guests) {
    gp = planGuests(cfg, await guests.list(), (u) => guests.keyOf(u));
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
  let observed = await backend.observe();
  Object.assign(errors, { ...findConflicts(cfg, observed), ...errors });
  const actions = planChanges(cfg, observed);
  let transactions = 0;
  if (actions.length > 0) {
    for (const a of actions) log(describeAction(a));
    const r = await backend.apply(actions);
    transactions = r.transactions;
    for (const [ref, m] of Object.entries(r.errors)) fail(ref, m);
    observed = await backend.observe({ kernel: actions.some((a) => touchesKernel(a, observed)) });
  }
  for (const [ref, m] of Object.entries(realisationErrors(cfg, observed))) fail(ref, m);
  if (backend.applyLocking) {
    // Every locked VIF whose port exists gets its rules, even one with an error: an error must
    // never leave a locked port open (a port that was not made has no OpenFlow number: skipped).
    const locked = cfg.vifs.filter((v) => v.locking === 'locked' && v.bridge)
      .map((v) => ({ owner: v.ref, port: v.hostDev, bridge: v.bridge!, mac: v.mac, ipv4: v.ipv4_allowed, ipv6: v.ipv6_allowed }));
    for (const [ref, m] of Object.entries(await backend.applyLocking(locked))) fail(ref, m);
  }
  if (guests && gp) {
    const restarting = new Set(gp.start.map((s) => guests.keyOf(s.vm.uuid)));
    for (const u of gp.unplug) {
      try { await guests.unplugVif(u.key, u); log(`guest ${u.key}: unplugged ${u.hostDev}`); } catch (e) { log(`unplug ${u.hostDev}: ${msg(e)}`); }
    }
    for (const key of gp.stop.filter((k) => !restarting.has(k))) {
      try { await guests.stopVm(key); log(`guest ${key} stopped`); } catch (e) { log(`guest ${key}: stop failed: ${msg(e)}`); }
    }
  }
  return { actions, errors, observed, transactions };
}

export interface ReportInputs {
  backend: 'openvswitch' | 'fake';
  nics: unknown[];
  bondsUp: Record<string, number>;
  bridges: unknown[];
}

/** Pure: the `state` struct of host.report_network_state (agent-protocol.md). */
export function buildReport(cfg: HostNetConfig, observed: ObservedState, errors: StrMap, extra: ReportInputs, pifModes: Record<string, string> = {}) {
  const PIFs: Record<string, { MTU: number; IP?: string; netmask?: string }> = {};
  for (const p of cfg.pifs) {
    if (errors[p.ref]) continue;
    const link = observed.links.get(p.dev);
    const iface = observed.ports.get(p.dev)?.interfaces.find((i) => i.name === p.dev);
    const entry: { MTU: number; IP?: string; netmask?: string } = { MTU: link?.mtu ?? iface?.mtu ?? p.mtu };
    const addr = link?.addrs[0];
    if (pifModes[p.ref] === 'DHCP' && addr) {
      const [ip, len] = addr.split('/');
      const bits = Number(len);
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      entry.IP = ip;
      entry.netmask = [24, 16, 8, 0].map((s) => (mask >>> s) & 255).join('.');
    }
    PIFs[p.ref] = entry;
  }
  const Bonds: Record<string, { links_up: number }> = {};
  for (const b of cfg.bonds) Bonds[b.ref] = { links_up: extra.bondsUp[b.ref] ?? 0 };
  const report: { backend: typeof extra.backend; nics: unknown[]; errors: StrMap; PIFs: typeof PIFs; Bonds: typeof Bonds; bridges: unknown[]; rollback?: Rollback } =
    { backend: extra.backend, nics: extra.nics, errors, PIFs, Bonds, bridges: extra.bridges };
  return report;
}
