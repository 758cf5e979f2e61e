// Bond properties: xapi's defaults and the master PIF's `bond-<k>` overrides, as the property
// list xcp-networkd hands its backends (each driver maps it: src/backends/*/bond.ts). Pure.
import { BOND_OVERRIDES } from '../idl/checks.js';
import type { StrMap } from '../backends/contract.js';

/**
 * The networkd property list for a bond, from Bond.mode/properties and the master PIF's
 * `bond-<k>` overrides. Only the overrides the server accepts (BOND_OVERRIDES: known key, valid
 * value) are used; the others are left out and listed in `rejected` for the caller to report.
 */
export function bondProperties(mode: string, properties: StrMap, masterOtherConfig: StrMap, rejected: string[] = []): StrMap {
  const props: StrMap = {
    mode: mode === 'lacp' || mode === 'active-backup' ? mode : 'balance-slb',
    miimon: '100',
    downdelay: '200',
    updelay: '31000',
    use_carrier: '1',
  };
  if (props.mode === 'lacp') {
    props['hashing-algorithm'] = properties.hashing_algorithm === 'src_mac' ? 'src_mac' : 'tcpudp_ports';
    props['lacp-time'] = 'slow';
    props['lacp-fallback-ab'] = 'true';
  } else {
    props['rebalance-interval'] = '1800000';
  }
  for (const [k, v] of Object.entries(masterOtherConfig)) {
    if (!k.startsWith('bond-') || k === 'bond-mode') continue;
    const ok = Object.hasOwn(BOND_OVERRIDES, k.slice(5)) && BOND_OVERRIDES[k.slice(5)]!(v);
    if (ok) props[k.slice(5)] = v;
    else rejected.push(`${k}=${JSON.stringify(v)}`);
  }
  return props;
}
