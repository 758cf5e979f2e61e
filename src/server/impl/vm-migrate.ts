// Where a VM may run and moving it there (xen-api: ocaml/xapi/xapi_vm_helpers.ml
// assert_can_boot_here / get_possible_hosts_for_vm / allowed_VBD_devices, xapi_vm_migrate.ml
// pool_migrate / migrate_send / assert_can_migrate, xapi_host.ml migrate_receive).
// A migration within the pool gives the VM a new domain on the destination in one transaction
// (resident_on, domid; VIFs keep currently_attached), then waits for the destination's agent to
// plug the VIFs and for the source's to remove its ports. xcpnet has no memory, CPU or storage
// placement: a host fits when it is live, enabled and can use every network of the VM's VIFs.

import { ApiError, assertOr } from '../../common/api-error.js';
import type { Tx } from '../../db/store.js';
import { NULL_REF, type Rec } from '../../idl/meta.js';
import type { CallContext, Rules } from '../context.js';
import { findPifOn, getPool, isRef, type Reader } from './common.js';
import { plugNetworkOn } from './network.js';
import { refreshAllowedOps } from './vif.js';
import { assertVmOperation } from './vm-ops.js';
import { hostProblem, networksOf, nextDomid, runVmOperation, updateVm, vifsOf } from './vm.js';

/** host_metrics.live: the host's agent reports (its heartbeat reaches the master). */
export function hostIsLive(r: Reader, host: string): boolean {
  const m = r.get('host', host).metrics;
  return isRef(m) && r.find('host_metrics', m)?.live === true;
}

/** Fails with the first reason the VM cannot run on the host, in xapi's order of the checks it shares. */
export function assertCanBootHere(r: Reader, vm: string, host: string): void {
  const rec = r.get('VM', vm);
  const h = r.get('host', host);
  assertOr(hostIsLive(r, host), 'HOST_OFFLINE', host);
  const localLive = rec.power_state === 'Running' && rec.resident_on === host;
  if (rec.is_control_domain !== true && !localLive) assertOr(h.enabled !== false, 'HOST_DISABLED', host);
  const p = hostProblem(r, vm, networksOf(vifsOf(r, vm)), host);
  if (p) throw p;
}

function possibleHosts(r: Reader, vm: string): string[] {
  const scheduled = r.get('VM', vm).scheduled_to_be_resident_on;
  if (isRef(scheduled)) return [scheduled];
  const out: string[] = [];
  for (const [host] of r.all('host')) {
    try { assertCanBootHere(r, vm, host); out.push(host); } catch (e) { if (!(e instanceof ApiError)) throw e; }
  }
  return out;
}

/** The disk number a VBD's device or userdevice names (`3`, `xvdd`, `hdd`, `sdd`), if any. */
export function diskNumber(s: string): number | undefined {
  if (/^\d+$/.test(s)) return Number(s);
  const m = /^(?:xvd|hd|sd)([a-z]{1,2})$/.exec(s);
  if (!m) return undefined;
  const letters = m[1]!;
  const n = [...letters].reduce((acc, c) => acc * 26 + (c.charCodeAt(0) - 96), 0) - 1;
  return n;
}

/** Disk numbers 0..254 (a PV or HVM guest's range) not taken by a VBD's device or userdevice. */
function allowedVbdDevices(r: Reader, vm: string): string[] {
  const used = new Set<number>();
  // VBDs are data only (no inverse set is kept on the VM): every VBD naming the VM counts.
  for (const [, vbd] of r.all('VBD')) {
    if (vbd.VM !== vm) continue;
    for (const s of [vbd.device, vbd.userdevice]) {
      const n = typeof s === 'string' ? diskNumber(s) : undefined;
      if (n !== undefined) used.add(n);
    }
  }
  const max = r.get('VM', vm).is_control_domain === true ? 255 : 254;
  return Array.from({ length: max + 1 }, (_, i) => i).filter((d) => !used.has(d)).map(String);
}

/**
 * Moves a running or paused VM to `host`: the destination's networks come up first, then the VM
 * is resident there with a new domid; the call returns once the destination's agent has plugged
 * the VIFs and the source's has let them go. If the destination fails, the VM goes back.
 */
async function moveDomain(ctx: CallContext, vm: string, host: string): Promise<void> {
  const store = ctx.services.store;
  const attached = (r: Reader) => vifsOf(r, vm).filter(([, v]) => v.currently_attached === true).map(([ref]) => ref);
  for (const net of networksOf(vifsOf(store, vm).filter(([, v]) => v.currently_attached === true))) await plugNetworkOn(ctx, net, host, false);
  const from = store.transact((tx) => {
    const rec = tx.get('VM', vm);
    const old = { resident_on: rec.resident_on, domid: rec.domid };
    // A migration to the host the VM is on keeps its domain as it is (xapi makes a new one there).
    const domid = rec.resident_on === host ? rec.domid : nextDomid(tx, host);
    updateVm(tx, vm, { resident_on: host, domid, scheduled_to_be_resident_on: NULL_REF });
    refreshVifs(tx, vm);
    return old;
  });
  const vifs = attached(store);
  try {
    await ctx.services.hub.wait(host, vifs);
  } catch (e) {
    store.transact((tx) => { if (tx.find('VM', vm)) { updateVm(tx, vm, from); refreshVifs(tx, vm); } });
    throw e;
  }
  if (isRef(from.resident_on) && from.resident_on !== host) await ctx.services.hub.wait(from.resident_on, []);
}

function refreshVifs(tx: Tx, vm: string): void {
  for (const [ref] of vifsOf(tx, vm)) refreshAllowedOps(tx, ref);
}

async function poolMigrate(ctx: CallContext, vm: string, host: string, options: Record<string, string>): Promise<void> {
  checkOptions(options);
  await runVmOperation(ctx, vm, 'pool_migrate', async () => {
    assertCanBootHere(ctx.services.store, vm, host);
    await moveDomain(ctx, vm, host);
  });
}

/** xapi reads these options as booleans; any other value is refused here rather than ignored. */
function checkOptions(options: Record<string, string>): void {
  for (const k of ['live', 'force', 'copy', 'compress']) {
    const v = options[k];
    if (v !== undefined) assertOr(['true', 'false'].includes(v.toLowerCase()), 'INVALID_VALUE', k, v);
  }
}

/**
 * migrate_send to a host of this pool (its dest map from host.migrate_receive). As in xapi a VIF
 * map is refused within a pool (the VIFs stay on their networks) and copy mode too; a halted or
 * suspended VM has no domain to move and no disks here, so only the checks run. A destination
 * outside the pool (cross-pool migration) is not implemented.
 */
async function migrateSend(ctx: CallContext, a: { vm: string; dest: Record<string, string>; vdi_map: Record<string, string>;
  vif_map: Record<string, string>; options: Record<string, string> }): Promise<string> {
  const store = ctx.services.store;
  store.get('VM', a.vm);
  checkOptions(a.options);
  const host = a.dest.host ?? '';
  if (!store.find('host', host)) throw new ApiError('NOT_IMPLEMENTED', ['VM.migrate_send to a host outside this pool']);
  for (const vif of Object.keys(a.vif_map)) store.get('VIF', vif);
  for (const net of Object.values(a.vif_map)) store.get('network', net);
  assertVmOperation(store, a.vm, 'migrate_send');
  assertOr((a.options.copy ?? 'false').toLowerCase() !== 'true', 'OPERATION_NOT_ALLOWED', 'copy mode is for another pool; within a pool use VM.copy or VM.clone');
  assertCanBootHere(store, a.vm, host);
  assertOr(Object.keys(a.vif_map).length === 0, 'OPERATION_NOT_ALLOWED', 'within a pool a VIF stays on its network: the VIF map must be empty');
  await runVmOperation(ctx, a.vm, 'migrate_send', async () => {
    const power = store.get('VM', a.vm).power_state;
    if (power === 'Running' || power === 'Paused') await moveDomain(ctx, a.vm, host);
  });
  return a.vm;
}

/** The destination map of a migration to `host` over `network` (the PIF there must have an address). */
function migrateReceive(ctx: CallContext, host: string, network: string): Record<string, string> {
  const store = ctx.services.store;
  store.get('host', host);
  store.get('network', network);
  const pifRef = findPifOn(store, network, host);
  assertOr(pifRef !== undefined, 'HOST_CANNOT_ATTACH_NETWORK', host, network);
  const pif = store.get('PIF', pifRef!);
  const v6 = pif.primary_address_type === 'IPv6';
  const ip = v6 ? ((pif.IPv6 ?? []).map((a) => a.split('/')[0]!).find((a) => a !== '' && !a.toLowerCase().startsWith('fe80')) ?? '') : pif.IP;
  if (ip === '') {
    const mode = v6 ? pif.ipv6_configuration_mode : pif.ip_configuration_mode;
    throw new ApiError(mode === 'None' ? 'PIF_HAS_NO_NETWORK_CONFIGURATION' : 'INTERFACE_HAS_NO_IP', [pifRef!]);
  }
  const at = v6 ? `[${ip}]` : ip;
  const master = store.get('host', getPool(store)[1].master).address;
  const out: Rec = {
    SM: `http://${at}/services/SM`, host, xenops: `http://${at}/services/xenops`,
    // xapi logs a new session in for the sender; xcpnet never puts a session ref in a reply.
    session_id: '', master: `http://${master.includes(':') ? `[${master}]` : master}`,
  };
  return out as Record<string, string>;
}

export const vmMigrateRules: Rules = {
  'VM.assert_can_boot_here': (ctx, a) => { assertCanBootHere(ctx.services.store, a.self, a.host); },
  'VM.get_possible_hosts': (ctx, a) => possibleHosts(ctx.services.store, a.vm),
  'VM.get_allowed_VBD_devices': (ctx, a) => allowedVbdDevices(ctx.services.store, a.vm),
  'VM.pool_migrate': (ctx, a) => poolMigrate(ctx, a.vm, a.host, a.options),
  'VM.migrate_send': (ctx, a) => migrateSend(ctx, a),
  'host.migrate_receive': (ctx, a) => migrateReceive(ctx, a.host, a.network),
};
