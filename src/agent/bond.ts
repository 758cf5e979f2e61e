// Bond properties: xapi's defaults (host-realisation §1.6) and networkd's mapping onto OVS
// Port/Interface columns (§1.8). Pure.
import { BOND_OVERRIDES } from '../idl/checks.js';
import type { StrMap } from './model.js';

export interface BondColumns {
  bond_mode: string;
  lacp: string;
  bond_updelay: number;
  bond_downdelay: number;
  other_config: StrMap;
  /** Keys set on every member Interface's other_config. */
  member_other_config: StrMap;
}

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

const nonNegInt = (v: string | undefined): number | undefined => {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v.trim());
};

/** networkd's `make_bond_properties`: property list → OVS columns. */
export function bondColumns(props: StrMap): BondColumns {
  const out: BondColumns = {
    bond_mode: 'balance-slb', lacp: 'off', bond_updelay: 0, bond_downdelay: 0,
    other_config: {}, member_other_config: {},
  };
  for (const [k, v] of Object.entries(props)) {
    switch (k) {
      case 'mode':
        if (v === 'lacp') {
          out.lacp = 'active';
          out.bond_mode = props['hashing-algorithm'] === 'src_mac' ? 'balance-slb' : 'balance-tcp';
        } else {
          out.lacp = 'off';
          out.bond_mode = v === 'active-backup' ? 'active-backup' : 'balance-slb';
        }
        break;
      case 'hashing-algorithm': break; // folded into mode
      case 'updelay': { const n = nonNegInt(v); if (n !== undefined) out.bond_updelay = n; break; }
      case 'downdelay': { const n = nonNegInt(v); if (n !== undefined) out.bond_downdelay = n; break; }
      case 'miimon': out.other_config['bond-miimon-interval'] = v; break;
      case 'use_carrier': out.other_config['bond-detect-mode'] = Number(v) > 0 ? 'carrier' : 'miimon'; break;
      case 'rebalance-interval': out.other_config['bond-rebalance-interval'] = v; break;
      case 'lacp-time': out.other_config['lacp-time'] = v; break;
      case 'lacp-fallback-ab': out.other_config['lacp-fallback-ab'] = v; break;
      case 'lacp-aggregation-key': out.member_other_config['lacp-aggregation-key'] = v; break;
      case 'lacp-actor-key': out.member_other_config['lacp-actor-key'] = v; break;
      // Other known properties pass under their OVS name; anything else never reaches OVS.
      default: if (Object.hasOwn(BOND_OVERRIDES, k) && BOND_OVERRIDES[k]!(v)) out.other_config[`bond-${k}`] = v;
    }
  }
  return out;
}
