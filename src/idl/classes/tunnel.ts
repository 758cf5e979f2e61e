// tunnel: an overlay (GRE or VXLAN) connecting a network across hosts.
import type { ClassDef } from '../meta.js';
import { field, msg, otherConfig, p, stringMap, t, uuidField, NULL_REF, PIF_UNPLUG_ERRORS, REALISE_ERRORS } from './_helpers.js';

export const tunnelProtocol = t.enumOf('tunnel_protocol', ['gre', 'vxlan']);

export const tunnelClass: ClassDef = {
  name: 'tunnel',
  doc: 'A host\'s end of an overlay network: an access PIF over a transport PIF.',
  persistent: true,
  events: true,
  writeRole: 'pool-operator',
  fields: [
    uuidField(),
    field('access_PIF', t.ref('PIF'), 'StaticRO', 'The tunnel<N> PIF joining the tunnel network on this host.', { default: NULL_REF }),
    field('transport_PIF', t.ref('PIF'), 'StaticRO', 'PIF carrying the encapsulated traffic.', { default: NULL_REF }),
    field('status', stringMap, 'RW', 'Status reported by the controller (key active).', { default: { active: 'false' } }),
    otherConfig(),
    field('protocol', tunnelProtocol, 'RW', 'Encapsulation protocol.', { default: 'gre' }),
  ],
  messages: [
    msg('create', [p('transport_PIF', t.ref('PIF')), p('network', t.ref('network')), p('protocol', tunnelProtocol, undefined, 'gre')],
      t.ref('tunnel'), [
        'NETWORK_UNMANAGED', 'NETWORK_ALREADY_CONNECTED', 'PIF_UNMANAGED', 'CANNOT_ADD_TUNNEL_TO_BOND_SLAVE',
        'IS_TUNNEL_ACCESS_PIF', 'CANNOT_ADD_TUNNEL_TO_SRIOV_LOGICAL', 'CANNOT_ADD_TUNNEL_TO_VLAN_ON_SRIOV_LOGICAL',
        'NETWORK_INCOMPATIBLE_WITH_TUNNEL', 'OPENVSWITCH_NOT_ACTIVE', 'TRANSPORT_PIF_NOT_CONFIGURED', ...REALISE_ERRORS,
      ], 'pool-operator', 'Create a tunnel access PIF on the network over a transport PIF, then plug it.'),
    msg('destroy', [p('self', t.ref('tunnel'))], null, [...PIF_UNPLUG_ERRORS, ...REALISE_ERRORS], 'pool-operator',
      'Unplug and delete the access PIF, then the tunnel.'),
  ],
};
