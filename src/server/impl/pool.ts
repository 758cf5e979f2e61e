// pool rules, management subset (xen-api: ocaml/xapi/xapi_pool.ml). pool.create_VLAN* live with VLAN.

import { ApiError, assertOr } from '../../common/api-error.js';
import type { CallContext, Rules } from '../context.js';
import { findPifOn, getPool, isBondSlave, markPlugged, pifKind } from './common.js';
import { assertManagementTarget } from './host.js';
import { checkDump, dumpDatabase, restoreDump, stageUpload, takeUpload } from '../db-dump.js';

/**
 * Every host must have a PIF on the network (first lacking host reported), all of one
 * primary address type; each passes the per-PIF checks. Then members first, master last.
 */
async function managementReconfigure(ctx: CallContext, network: string): Promise<void> {
  const { store } = ctx.services;
  const [, pool] = getPool(store);
  assertOr(pool.ha_enabled !== true, 'HA_IS_ENABLED');
  const pifs: Array<[host: string, pif: string]> = [];
  for (const [host] of store.all('host')) {
    const pif = findPifOn(store, network, host);
    assertOr(pif, 'PIF_NOT_PRESENT', host, network);
    pifs.push([host, pif]);
  }
  const types = pifs.map(([, pif]) => store.get('PIF', pif).primary_address_type);
  const odd = pifs.find((_, i) => types[i] !== types[0]);
  assertOr(!odd, 'PIF_INCOMPATIBLE_PRIMARY_ADDRESS_TYPE', odd?.[1]);
  for (const [, pif] of pifs) assertManagementTarget(store, pif);
  const master = pool.master;
  const ordered = [...pifs.filter(([h]) => h !== master), ...pifs.filter(([h]) => h === master)];
  for (const [, pif] of ordered) await ctx.services.invoke(ctx, 'host.management_reconfigure', { pif });
}

/**
 * pool.set_igmp_snooping_enabled (xen-api: ocaml/xapi/xapi_pool.ml): the flag, then every host's
 * attached NIC and bond PIFs plugged again, which records their igmp_snooping_status from the
 * flag; their hosts' agents turn snooping on or off on those bridges. A host that does not
 * realise it is COULD_NOT_UPDATE_IGMP_SNOOPING_EVERYWHERE once every host has been waited for.
 */
async function setIgmpSnooping(ctx: CallContext, self: string, value: boolean): Promise<void> {
  const store = ctx.services.store;
  const byHost = store.transact((tx) => {
    tx.get('pool', self);
    tx.update('pool', self, { igmp_snooping_enabled: value });
    const out = new Map<string, string[]>();
    for (const [ref, pif] of tx.all('PIF')) {
      if (pif.currently_attached !== true || pif.managed === false || pif.VLAN !== -1 || isBondSlave(tx, pif)) continue;
      const kind = pifKind(tx, pif);
      if (kind !== 'physical' && kind !== 'bond_master') continue;
      markPlugged(tx, ref);
      out.set(pif.host, [...(out.get(pif.host) ?? []), ref]);
    }
    return out;
  });
  const results = await Promise.allSettled([...byHost].map(([host, pifs]) => ctx.services.hub.wait(host, pifs)));
  if (results.some((r) => r.status === 'rejected')) throw new ApiError('COULD_NOT_UPDATE_IGMP_SNOOPING_EVERYWHERE', []);
}

export const poolRules: Rules = {
  'pool.set_igmp_snooping_enabled': (ctx, a) => setIgmpSnooping(ctx, a.self, a.value),
  'pool.management_reconfigure': (ctx, a) => managementReconfigure(ctx, a.network),
  'pool.dump_database': (ctx) => JSON.stringify(dumpDatabase(ctx.services.store)),
  'pool.restore_database_upload': (ctx, a) => stageUpload(ctx.services.store, ctx.session?.ref ?? '', a.part, a.first === true),
  'pool.restore_database': (ctx, a) => {
    const dump = checkDump(ctx.services.store, takeUpload(ctx.services.store, ctx.session?.ref ?? ''));
    if (a.dry_run !== true) restoreDump(ctx.services.store, dump);
  },
};
