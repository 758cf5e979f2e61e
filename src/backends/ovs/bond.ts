// xcp-networkd's mapping of a bond's property list onto OVS Port/Interface columns. Pure.
import type { StrMap } from '../contract.js';

export interface BondColumns {
  bond_mode: string;
  lacp: string;
  bond_updelay: number;
  bond_downdelay: number;
  other_config: StrMap;
  /** Keys set on every member Interface's other_config. */
  member_other_config: StrMap;
}

/** Known property names that pass to OVS as `bond-<name>` (the compiler checked their values). */
const PASS_THROUGH = new Set(['primary']);

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
      default: if (PASS_THROUGH.has(k)) out.other_config[`bond-${k}`] = v;
    }
  }
  return out;
}
