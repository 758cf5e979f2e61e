// Bond: member PIFs of one host aggregated behind a master PIF.
import type { ClassDef } from '../meta.js';
import { field, msg, otherConfig, p, stringMap, t, uuidField, NULL_REF, REALISE_ERRORS } from './_helpers.js';

export const bondMode = t.enumOf('bond_mode', ['balance-slb', 'active-backup', 'lacp']);

const self = p('self', t.ref('Bond'));

export const BondClass: ClassDef = {
  name: 'Bond',
  doc: 'A link aggregation of PIFs of one host, exposed as a master PIF.',
  persistent: true,
  events: true,
  writeRole: 'pool-operator',
  fields: [
    uuidField(),
    field('master', t.ref('PIF'), 'StaticRO', 'The bond master PIF (bond<N>).', { default: NULL_REF }),
    field('slaves', t.set(t.ref('PIF')), 'DynamicRO', 'Member PIFs.', { default: [] }),
    otherConfig(),
    field('primary_slave', t.ref('PIF'), 'DynamicRO', 'Member whose MAC and IP setup moved to the master.', { default: NULL_REF }),
    field('mode', bondMode, 'DynamicRO', 'Bonding mode.', { default: 'balance-slb' }),
    field('properties', stringMap, 'DynamicRO', 'Mode-specific settings (lacp only).', { default: {} }),
    field('links_up', t.int, 'DynamicRO', 'Number of members with carrier.', { default: 0 }),
    field('active_member', t.ref('PIF'), 'DynamicRO',
      'xcpnet extension: the member the host\'s agent last saw carrying the traffic (active-backup); NULL when none is or it is not known.',
      { default: NULL_REF }),
    field('auto_update_mac', t.bool, 'DynamicRO', 'True when the master MAC follows the primary member.', { default: true }),
  ],
  messages: [
    msg('create', [
      p('network', t.ref('network')), p('members', t.set(t.ref('PIF'))), p('MAC', t.string, '"" = primary member\'s MAC.'),
      p('mode', bondMode, undefined, 'balance-slb'), p('properties', stringMap, undefined, {}),
    ], t.ref('Bond'), [
      'PIF_BOND_NEEDS_MORE_MEMBERS', 'NETWORK_UNMANAGED', 'NETWORK_ALREADY_CONNECTED', 'NETWORK_INCOMPATIBLE_WITH_BOND',
      'MAC_INVALID', 'INVALID_VALUE', 'PIF_INCOMPATIBLE_PRIMARY_ADDRESS_TYPE', 'PIF_UNMANAGED', 'PIF_ALREADY_BONDED',
      'PIF_VLAN_EXISTS', 'IS_TUNNEL_ACCESS_PIF', 'PIF_IS_SRIOV_LOGICAL', 'HA_CANNOT_CHANGE_BOND_STATUS_OF_MGMT_IFACE',
      'PIF_HAS_FCOE_SR_IN_USE', 'PIF_CANNOT_BOND_CROSS_HOST', 'INCOMPATIBLE_PIF_PROPERTIES', 'PIF_BOND_MORE_THAN_ONE_IP',
      ...REALISE_ERRORS,
    ], 'pool-operator', 'Bond PIFs of one host onto a new master PIF on the network; moves IP, management, VLANs, tunnels and VIFs.'),
    msg('destroy', [self], null, ['HA_CANNOT_CHANGE_BOND_STATUS_OF_MGMT_IFACE', ...REALISE_ERRORS], 'pool-operator',
      'Dissolve the bond, moving everything back to the primary member.'),
    msg('set_mode', [self, p('value', bondMode)], null, [], 'pool-operator', 'Change the bonding mode and re-plug the master.'),
    msg('set_property', [self, p('name', t.string), p('value', t.string)], null, ['INVALID_VALUE'], 'pool-operator',
      'Set one mode-specific property and re-plug the master.'),
  ],
};
