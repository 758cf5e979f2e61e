// network: a logical network, realised as a bridge on every host that needs it.
import type { ClassDef } from '../meta.js';
import { field, msg, nameFields, p, stringMap, t, uuidField, REALISE_ERRORS } from './_helpers.js';
import { ifName, mtu, tunnelKey, TUNNEL_KEY } from '../checks.js';

export const networkOperations = t.enumOf('network_operations', ['attaching']);
export const networkDefaultLockingMode = t.enumOf('network_default_locking_mode', ['unlocked', 'disabled']);
export const networkPurpose = t.enumOf('network_purpose', ['nbd', 'insecure_nbd']);

export const networkClass: ClassDef = {
  name: 'network',
  doc: 'A virtual network: a bridge on each host where it is used, joining PIFs and VIFs.',
  persistent: true,
  events: true,
  nameLabel: true,
  create: true,
  destroy: true,
  writeRole: 'vm-admin',
  fields: [
    uuidField(),
    ...nameFields(),
    field('allowed_operations', t.set(networkOperations), 'DynamicRO', 'Operations allowed now (never populated).', { default: [] }),
    field('current_operations', t.map(t.string, networkOperations), 'DynamicRO', 'Operations in progress, by task.', { default: {} }),
    field('VIFs', t.set(t.ref('VIF')), 'DynamicRO', 'VIFs connected to this network.', { default: [] }),
    field('PIFs', t.set(t.ref('PIF')), 'DynamicRO', 'PIFs (on any host) connected to this network.', { default: [] }),
    field('MTU', t.int, 'RW', 'Intended MTU of the bridge and its PIFs; applied at the next plug.', { default: 1500, check: mtu }),
    field('other_config', stringMap, 'RW', 'Free-form settings; some keys are interpreted (static-routes, HIMN keys...).',
      { keys: { [TUNNEL_KEY]: tunnelKey } }),
    field('bridge', t.string, 'StaticRO', 'Bridge name on each host; "" at create means pick xapi<N>.', { default: '', check: ifName({ empty: true }), indexed: true }),
    field('managed', t.bool, 'StaticRO', 'False: the bridge is never created or removed, only required to exist.', { default: true }),
    field('blobs', t.map(t.string, t.ref('blob')), 'DynamicRO', 'Named binary blobs attached to the network.', { default: {} }),
    field('tags', t.set(t.string), 'RW', 'User tags.', { default: [], writeRole: 'vm-operator' }),
    field('default_locking_mode', networkDefaultLockingMode, 'DynamicRO', 'Locking mode of VIFs whose own mode is network_default.', { default: 'unlocked' }),
    field('assigned_ips', t.map(t.ref('VIF'), t.string), 'DynamicRO', 'Addresses handed out by the internal DHCP server (HIMN only).', { default: {} }),
    field('purpose', t.set(networkPurpose), 'DynamicRO', 'Special uses of the network (NBD).', { default: [] }),
  ],
  messages: [
    msg('attach', [p('network', t.ref('network')), p('host', t.ref('host'))], null,
      ['BRIDGE_NOT_AVAILABLE', 'CANNOT_PLUG_BOND_SLAVE', ...REALISE_ERRORS], 'pool-operator',
      'Make the network live on a host now: create its bridge and plug its PIFs there.', { hidden: true }),
    msg('pool_introduce', [
      p('name_label', t.string), p('name_description', t.string), p('MTU', t.int),
      p('other_config', stringMap), p('bridge', t.string), p('managed', t.bool),
      p('purpose', t.set(networkPurpose)),
    ], t.ref('network'), [], 'pool-operator',
      'Create a network record verbatim, without bridge checks (pool join).', { hidden: true }),
    msg('create_new_blob', [
      p('network', t.ref('network')), p('name', t.string), p('mime_type', t.string),
      p('public', t.bool, 'Whether the blob is readable without a session.', false),
    ], t.ref('blob'), ['MAP_DUPLICATE_KEY'], 'pool-operator', 'Create a blob and store it in blobs under the given name; its content is sent to /blob?ref=.'),
    msg('set_default_locking_mode', [p('network', t.ref('network')), p('value', networkDefaultLockingMode)], null,
      ['VIF_IN_USE'], 'pool-operator', 'Set default_locking_mode; refused while any VIF of the network is attached.'),
    msg('attach_for_vm', [p('host', t.ref('host')), p('vm', t.ref('VM'))], null, [], 'vm-power-admin',
      'Attach every network used by the VM on the host.', { hidden: true }),
    msg('detach_for_vm', [p('host', t.ref('host')), p('vm', t.ref('VM'))], null, [], 'vm-power-admin',
      'Detach every network used by the VM on the host.', { hidden: true }),
    msg('add_purpose', [p('self', t.ref('network')), p('value', networkPurpose)], null,
      ['NETWORK_UNMANAGED', 'NETWORK_INCOMPATIBLE_PURPOSES'], 'pool-admin',
      'Add a purpose; nbd and insecure_nbd may not coexist in the pool.'),
    msg('remove_purpose', [p('self', t.ref('network')), p('value', networkPurpose)], null, [], 'pool-admin',
      'Remove a purpose if present.'),
  ],
};
