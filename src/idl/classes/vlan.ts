// VLAN: a tag on a parent PIF, carried by a VLAN (untagged) PIF on another network.
import type { ClassDef } from '../meta.js';
import { field, msg, otherConfig, p, stringMap, t, uuidField, NULL_REF, REALISE_ERRORS, VLAN_CREATE_ERRORS, VLAN_DESTROY_ERRORS } from './_helpers.js';
import { vlanTag } from '../checks.js';

export const VLANClass: ClassDef = {
  name: 'VLAN',
  doc: 'An 802.1Q VLAN: joins a tagged (parent) PIF to an untagged VLAN PIF.',
  persistent: true,
  events: true,
  writeRole: 'pool-operator',
  fields: [
    uuidField(),
    field('tagged_PIF', t.ref('PIF'), 'StaticRO', 'Parent PIF (physical or bond master).', { default: NULL_REF }),
    field('untagged_PIF', t.ref('PIF'), 'DynamicRO', 'The VLAN PIF created for this VLAN.', { default: NULL_REF }),
    field('tag', t.int, 'StaticRO', 'VLAN tag, 0..4094.', { default: -1, check: vlanTag() }),
    otherConfig(),
  ],
  messages: [
    msg('create', [p('tagged_PIF', t.ref('PIF')), p('tag', t.int), p('network', t.ref('network'))], t.ref('VLAN'),
      [...VLAN_CREATE_ERRORS, ...REALISE_ERRORS], 'pool-operator',
      'Create a VLAN on a PIF and its VLAN PIF on the network, then plug it.'),
    msg('destroy', [p('self', t.ref('VLAN'))], null,
      VLAN_DESTROY_ERRORS,
      'pool-operator', 'Unplug and delete the VLAN PIF, then the VLAN.'),
    msg('pool_introduce', [
      p('tagged_PIF', t.ref('PIF')), p('untagged_PIF', t.ref('PIF')), p('tag', t.int), p('other_config', stringMap),
    ], t.ref('VLAN'), [], 'pool-operator', 'Insert a VLAN record for existing PIFs (pool join).', { hidden: true }),
  ],
};
