// Bringing a host back by hand, on the host itself, when its management configuration keeps it
// from its master: emergency mode (`host.local_management_reconfigure`: management on another
// bridge, with the IP configuration recorded for its PIF) and `xcpnet reset-networking`
// (management on a named NIC with a given IP configuration, every other PIF left down). Both
// are local overrides of the records the agent compiles, kept until the agent reaches the master
// again, which it then asks to record the same (host.management_reconfigure, after
// PIF.reconfigure_ip for a reset). Pure, but for the small state holder.
import { ApiError } from '../common/api-error.js';
import { isIfName, isIPv4 } from '../common/net-syntax.js';
import type { Rec } from '../idl/meta.js';
import type { ResetConfig } from './local-api.js';
import { NULL, str, type PoolRecords } from './records.js';

/** Emergency mode: the master has been out of reach for this long (ms). */
export const EMERGENCY_AFTER_MS = 30_000;

export type Override = { kind: 'bridge'; bridge: string; pif: string } | { kind: 'reset'; cfg: ResetConfig; pif: string };

const hostPifs = (pool: PoolRecords, hostRef: string) => Object.entries(pool.PIF).filter(([, p]) => str(p.host) === hostRef);

/** The PIF an emergency reconfiguration names (by its network's bridge), or an ApiError. */
export function pifOfBridge(pool: PoolRecords, hostRef: string, bridge: string): string {
  const found = hostPifs(pool, hostRef).find(([, p]) => str(pool.network[str(p.network)]?.bridge) === bridge);
  if (!isIfName(bridge) || !found) throw new ApiError('INVALID_VALUE', ['interface', bridge]);
  return found[0];
}

/** The physical PIF of NIC `device` for a reset, after checking the configuration, or an ApiError. */
export function pifForReset(pool: PoolRecords, hostRef: string, cfg: ResetConfig): string {
  const found = hostPifs(pool, hostRef).find(([, p]) => p.physical === true && str(p.device) === cfg.device);
  if (!isIfName(cfg.device) || !found) throw new ApiError('INVALID_VALUE', ['device', cfg.device]);
  if (cfg.mode === 'Static') {
    if (!isIPv4(cfg.IP)) throw new ApiError('INVALID_IP_ADDRESS_SPECIFIED', ['IP']);
    if (!isIPv4(cfg.netmask)) throw new ApiError('INVALID_IP_ADDRESS_SPECIFIED', ['netmask']);
    if (cfg.gateway !== '' && !isIPv4(cfg.gateway)) throw new ApiError('INVALID_IP_ADDRESS_SPECIFIED', ['gateway']);
  }
  return found[0];
}

/**
 * Pure: the records as the override wants this host: management on the override's PIF (plugged),
 * on no other. A reset also gives that PIF its IP configuration, takes it out of any bond, and
 * leaves every other PIF of the host and every guest interface here unplugged.
 */
export function overridePool(pool: PoolRecords, hostRef: string, o: Override): PoolRecords {
  const PIF: PoolRecords['PIF'] = { ...pool.PIF };
  for (const [ref, p] of hostPifs(pool, hostRef)) {
    const patch: Rec = { management: ref === o.pif };
    if (ref === o.pif) patch.currently_attached = true;
    else if (o.kind === 'reset') patch.currently_attached = false;
    PIF[ref] = { ...p, ...patch };
  }
  if (o.kind === 'bridge') return { ...pool, PIF };
  const c = o.cfg;
  PIF[o.pif] = {
    ...PIF[o.pif], bond_slave_of: NULL, ip_configuration_mode: c.mode,
    IP: c.mode === 'Static' ? c.IP : '', netmask: c.mode === 'Static' ? c.netmask : '', gateway: c.mode === 'Static' ? c.gateway : '', DNS: c.DNS,
  };
  const VIF: PoolRecords['VIF'] = {};
  for (const [ref, v] of Object.entries(pool.VIF)) {
    const vm = pool.VM[str(v.VM)];
    VIF[ref] = vm && str(vm.resident_on) === hostRef ? { ...v, currently_attached: false } : v;
  }
  return { ...pool, PIF, VIF };
}
