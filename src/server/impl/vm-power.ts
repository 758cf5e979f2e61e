// VM power operations beyond start and shutdown (xen-api: ocaml/xapi/xapi_vm.ml, the xenopsd
// atomics of ocaml/xenopsd/lib/xenops_server.ml): reboots give the VM a new domain (a new domid,
// so the host's agent makes its guest and VIF ports anew), pause keeps the domain and its devices,
// suspend ends the domain but keeps each VIF's currently_attached (xenopsd leaves the VIFs active;
// resume plugs them again), resume starts a domain as VM.start does.

import { NULL_REF } from '../../idl/meta.js';
import type { Tx } from '../../db/store.js';
import type { CallContext, Rules } from '../context.js';
import { isRef } from './common.js';
import { refreshAllowedOps } from './vif.js';
import { bootOn, nextDomid, runVmOperation, startHost, updateVm, vifsOf } from './vm.js';

/** Waits for the VM's host to realise the last change (its VIFs' errors fail the call). */
async function waitHost(ctx: CallContext, host: string, vm: string, vifs?: string[]): Promise<void> {
  if (isRef(host)) await ctx.services.hub.wait(host, vifs ?? vifsOf(ctx.services.store, vm).filter(([, v]) => v.currently_attached).map(([r]) => r));
}

/** A reboot: the domain is destroyed and built again on the same host, Running, with a new domid. */
async function reboot(ctx: CallContext, vm: string, op: 'clean_reboot' | 'hard_reboot'): Promise<void> {
  await runVmOperation(ctx, vm, op, async () => {
    const host = ctx.services.store.transact((tx) => {
      const rec = tx.get('VM', vm);
      // nextDomid skips the old domain's id, which is still in use on the host here.
      updateVm(tx, vm, { power_state: 'Running', domid: nextDomid(tx, rec.resident_on) });
      for (const [ref] of vifsOf(tx, vm)) refreshAllowedOps(tx, ref);
      return rec.resident_on;
    });
    await waitHost(ctx, host, vm);
  });
}

/** Pause / unpause: the domain and its devices stay; only the power state changes. */
async function setPaused(ctx: CallContext, vm: string, op: 'pause' | 'unpause'): Promise<void> {
  await runVmOperation(ctx, vm, op, async () => {
    const host = ctx.services.store.transact((tx) => {
      updateVm(tx, vm, { power_state: op === 'pause' ? 'Paused' : 'Running' });
      for (const [ref] of vifsOf(tx, vm)) refreshAllowedOps(tx, ref);
      return tx.get('VM', vm).resident_on;
    });
    await waitHost(ctx, host, vm);
  });
}

/** Suspended: no domain, not resident, VIFs keep currently_attached (their devices are gone from the host). */
function markSuspended(tx: Tx, vm: string): void {
  updateVm(tx, vm, { power_state: 'Suspended', domid: -1, resident_on: NULL_REF, scheduled_to_be_resident_on: NULL_REF });
  for (const [ref] of vifsOf(tx, vm)) refreshAllowedOps(tx, ref);
}

async function suspend(ctx: CallContext, vm: string): Promise<void> {
  await runVmOperation(ctx, vm, 'suspend', async () => {
    const { host, vifs } = ctx.services.store.transact((tx) => {
      const rec = tx.get('VM', vm);
      const attached = vifsOf(tx, vm).filter(([, v]) => v.currently_attached).map(([r]) => r);
      markSuspended(tx, vm);
      return { host: rec.resident_on, vifs: attached };
    });
    await waitHost(ctx, host, vm, vifs);
  });
}

/** Resume on the host named, or on the first that fits as VM.start chooses; Paused when asked. */
async function resume(ctx: CallContext, vm: string, startPaused: boolean, wanted?: string): Promise<void> {
  await runVmOperation(ctx, vm, wanted === undefined ? 'resume' : 'resume_on', async () => {
    const host = startHost(ctx.services.store, vm, wanted);
    await bootOn(ctx, vm, host, startPaused ? 'Paused' : 'Running', (tx) => markSuspended(tx, vm), 'kept');
  });
}

export const vmPowerRules: Rules = {
  'VM.clean_reboot': (ctx, a) => reboot(ctx, a.vm, 'clean_reboot'),
  'VM.hard_reboot': (ctx, a) => reboot(ctx, a.vm, 'hard_reboot'),
  'VM.pause': (ctx, a) => setPaused(ctx, a.vm, 'pause'),
  'VM.unpause': (ctx, a) => setPaused(ctx, a.vm, 'unpause'),
  'VM.suspend': (ctx, a) => suspend(ctx, a.vm),
  'VM.resume': (ctx, a) => resume(ctx, a.vm, a.start_paused),
  'VM.resume_on': (ctx, a) => resume(ctx, a.vm, a.start_paused, a.host),
};
