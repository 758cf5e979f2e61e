// host rules, networking subset (xen-api: ocaml/xapi/xapi_host.ml, xapi_mgmt_iface.ml): the management interface follows the
// host's management bridge (the internal field host.management_bridge).

import { ApiError, assertOr } from '../../common/api-error.js';
import type { CallContext, Rules } from '../context.js';
import type { Tx } from '../../db/store.js';
import { storedFields } from '../../idl/meta.js';
import type { Reader } from './common.js';
import { getPool, isBondSlave, markPlugged, recomputeManagement, syncHostAddress } from './common.js';

/**
 * The per-PIF checks of management_reconfigure (also run by pool.management_reconfigure):
 * CANNOT_PLUG_BOND_SLAVE, PIF_HAS_NO_NETWORK_CONFIGURATION, PIF_HAS_NO_V6_NETWORK_CONFIGURATION.
 */
export function assertManagementTarget(r: Reader, pifRef: string): void {
  const pif = r.get('PIF', pifRef);
  if (pif.managed === false) return;
  assertOr(!isBondSlave(r, pif), 'CANNOT_PLUG_BOND_SLAVE', pifRef);
  const v6 = pif.primary_address_type === 'IPv6';
  assertOr(v6 || pif.ip_configuration_mode !== 'None', 'PIF_HAS_NO_NETWORK_CONFIGURATION', pifRef);
  assertOr(!v6 || pif.ipv6_configuration_mode !== 'None', 'PIF_HAS_NO_V6_NETWORK_CONFIGURATION', pifRef);
}

/**
 * host.management_reconfigure on pif.host: the PIF is plugged (even when already plugged), the
 * host's management bridge becomes the PIF's network's bridge, and the flags follow. The old
 * management PIF stays plugged. No-op when the PIF already is the management interface.
 */
export async function managementReconfigure(ctx: CallContext, pifRef: string): Promise<void> {
  const { store, hub } = ctx.services;
  assertOr(getPool(store)[1].ha_enabled !== true, 'HA_IS_ENABLED');
  assertManagementTarget(store, pifRef);
  const pif = store.get('PIF', pifRef);
  if (pif.management === true) return;
  const host = pif.host;
  const bridge = store.get('network', pif.network).bridge;
  const h = store.get('host', host);
  const before = storedFields(h, ['management_bridge', 'management_address_type', 'address']);
  store.transact((tx) => {
    if (pif.managed !== false) markPlugged(tx, pifRef);
    tx.update('host', host, {
      management_bridge: bridge, management_address_type: pif.primary_address_type === 'IPv6' ? 'ipv6' : 'ipv4',
    });
    recomputeManagement(tx, host);
  });
  if (pif.managed !== false) {
    await waitForManagement(ctx, host, [pifRef], (tx) => {
      tx.update('host', host, before);
      if (pif.currently_attached !== true) tx.update('PIF', pifRef, { currently_attached: false });
      recomputeManagement(tx, host);
    });
  }
  syncHostAddress(ctx, host);
}

/**
 * How long a management change may take on its host: the agent's confirmation window (20 s)
 * and, when the change cut the host off, its rollback and the way back to the master.
 */
export const MANAGEMENT_WAIT_MS = 90_000;

/**
 * Waits for a management change to be realised; when it is not (the agent rolled it back
 * because it could not reach the master from it, failed to realise it, or never answered), the
 * records are put back as they were (`restore`) before the error goes to the caller, so that
 * the records keep describing how the host is really reached.
 */
export async function waitForManagement(ctx: CallContext, host: string, objects: string[], restore: (tx: Tx) => void): Promise<void> {
  try {
    await ctx.services.hub.wait(host, objects, undefined, MANAGEMENT_WAIT_MS);
  } catch (e) {
    ctx.services.store.transact(restore);
    throw e;
  }
}

function managementDisable(ctx: CallContext): void {
  const { store } = ctx.services;
  const [, pool] = getPool(store);
  assertOr(pool.ha_enabled !== true, 'HA_IS_ENABLED');
  // The call runs on the host the client talks to; every client talks to the master here.
  const host = ctx.services.masterHost();
  assertOr(host === pool.master, 'SLAVE_REQUIRES_MANAGEMENT_INTERFACE');
  store.transact((tx) => {
    tx.update('host', host, { management_bridge: '', address: '' });
    recomputeManagement(tx, host);
  });
}

/** What is wrong with a hostname, as xapi words its checks, or undefined. */
export function hostnameProblem(name: string): string | undefined {
  if (name.length === 0) return 'hostname empty';
  if (name.length > 255) return 'hostname is too long';
  if (!/^[A-Za-z0-9.-]+$/.test(name) || name.startsWith('-') || name.endsWith('-')) return 'hostname contains invalid characters';
  return undefined;
}

export const hostRules: Rules = {
  'host.management_reconfigure': (ctx, a) => managementReconfigure(ctx, a.pif),
  'host.management_disable': (ctx) => managementDisable(ctx),
  'host.get_management_interface': (ctx, a) => {
    for (const [ref, pif] of ctx.services.store.all('PIF')) {
      if (pif.host === a.host && pif.management === true) return ref;
    }
    throw new ApiError('INTERNAL_ERROR', ['Not_found']);
  },
  // As xapi's set_hostname_live (ocaml/xapi/xapi_host.ml): the record only (docs/differences.md).
  'host.set_hostname_live': (ctx, a) => {
    const reason = hostnameProblem(a.hostname);
    if (reason) throw new ApiError('HOST_NAME_INVALID', [reason]);
    ctx.services.store.transact((tx) => { tx.get('host', a.host); tx.update('host', a.host, { hostname: a.hostname }); });
  },
  // xcpnet hosts never run in emergency mode (they always reach their master).
  'host.local_management_reconfigure': () => {
    throw new ApiError('NOT_IN_EMERGENCY_MODE', []);
  },
};
