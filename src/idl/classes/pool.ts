// pool: the pool-wide object (management-related subset).
import type { ClassDef } from '../meta.js';
import { OVN_CA_KEY, ovnCaKey, OVN_CLUSTER_KEY, ovnClusterKey, OVN_REMOTE_KEY, ovnRemoteKey, SDN_KEY, sdnKey } from '../checks.js';
import { field, msg, nameFields, p, stringMap, t, uniq, uuidField, NULL_REF, REALISE_ERRORS, VLAN_CREATE_ERRORS } from './_helpers.js';

const JOIN_PARAMS = [p('master_address', t.string), p('master_username', t.string), p('master_password', t.string)];
const JOIN_ERRORS = ['JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS', 'POOL_JOINING_HOST_CONNECTION_FAILED', 'SSL_VERIFY_ERROR', 'OPERATION_NOT_ALLOWED',
  'POOL_JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS', 'POOL_JOINING_HOST_CANNOT_HAVE_RUNNING_VMS', 'POOL_JOINING_HOST_HAS_BONDS',
  'POOL_JOINING_HOST_HAS_TUNNELS', 'POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS', 'POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION',
  'SESSION_AUTHENTICATION_FAILED', 'HOST_IS_SLAVE'];

export const poolClass: ClassDef = {
  name: 'pool',
  doc: 'The pool of hosts sharing one database.',
  persistent: true,
  events: true,
  writeRole: 'pool-operator',
  fields: [
    uuidField(),
    // plain fields: pool has no name namespace, hence no get_by_name_label
    ...nameFields(),
    field('master', t.ref('host'), 'DynamicRO', 'The pool master.', { default: NULL_REF }),
    field('default_SR', t.ref('SR'), 'RW', 'Default storage repository.', { default: NULL_REF }),
    field('other_config', stringMap, 'RW', 'Free-form; merged into the bridge configuration of every host. xcpnet-sdn=mesh|ovn chooses what carries cross-server private networks; xcpnet-ovn-cluster=<3 host uuids> makes OVN\'s databases a RAFT cluster on those hosts.',
      { default: {}, keys: { [SDN_KEY]: sdnKey, [OVN_REMOTE_KEY]: ovnRemoteKey, [OVN_CA_KEY]: ovnCaKey, [OVN_CLUSTER_KEY]: ovnClusterKey } }),
    field('ha_enabled', t.bool, 'DynamicRO', 'True when high availability is on.', { default: false }),
    field('vswitch_controller', t.string, 'DynamicRO', 'Deprecated: address of the SDN controller.', { default: '' }),
    field('restrictions', stringMap, 'DynamicRO', 'Licence restrictions in force.', { default: {} }),
    field('redo_log_enabled', t.bool, 'DynamicRO', 'True when the redo log is on.', { default: false }),
    field('igmp_snooping_enabled', t.bool, 'DynamicRO', 'IGMP snooping on all bridges.', { default: false }),
  ],
  messages: [
    msg('management_reconfigure', [p('network', t.ref('network'))], null, [
      'HA_IS_ENABLED', 'PIF_NOT_PRESENT', 'PIF_INCOMPATIBLE_PRIMARY_ADDRESS_TYPE', 'CANNOT_PLUG_BOND_SLAVE',
      'PIF_HAS_NO_NETWORK_CONFIGURATION', 'PIF_HAS_NO_V6_NETWORK_CONFIGURATION', ...REALISE_ERRORS,
    ], 'pool-operator', 'Move the management interface of every host to its PIF on the network.'),
    msg('create_VLAN_from_PIF', [p('pif', t.ref('PIF')), p('network', t.ref('network')), p('VLAN', t.int)], t.set(t.ref('PIF')),
      uniq([...VLAN_CREATE_ERRORS, ...REALISE_ERRORS]), 'pool-operator',
      'Create the VLAN on every live host\'s PIF of the same network as pif; returns the VLAN PIFs.'),
    msg('create_VLAN', [p('device', t.string), p('network', t.ref('network')), p('VLAN', t.int)], t.set(t.ref('PIF')),
      uniq(['INVALID_VALUE', ...VLAN_CREATE_ERRORS, ...REALISE_ERRORS]), 'pool-operator',
      'Deprecated: create the VLAN on the PIF with this device on every host.'),
    msg('set_igmp_snooping_enabled', [p('self', t.ref('pool')), p('value', t.bool)], null, ['COULD_NOT_UPDATE_IGMP_SNOOPING_EVERYWHERE'], 'pool-operator',
      'Turn IGMP snooping on or off on the bridges of every host\'s NICs and bonds (OVS mcast_snooping_enable, the Linux bridge\'s mcast_snooping).'),
    msg('dump_database', [], t.string, [], 'pool-admin',
      'xcpnet extension (xapi: the HTTP handler behind xe pool-dump-database): a consistent snapshot of the pool database, as JSON text; no user accounts.',
      { async: false, hidden: true }),
    msg('restore_database_upload', [p('part', t.string), p('first', t.bool)], t.int, ['OPERATION_NOT_ALLOWED', 'RESTORE_DATABASE_INVALID'], 'pool-admin',
      'xcpnet extension: append a part of a pool database dump to this session\'s upload (first=true starts one); returns the characters uploaded.',
      { async: false, hidden: true }),
    msg('restore_database', [p('dry_run', t.bool)], null, ['OPERATION_NOT_ALLOWED', 'RESTORE_INCOMPATIBLE_VERSION', 'RESTORE_DATABASE_INVALID'], 'pool-admin',
      'xcpnet extension (xapi: the HTTP handler behind xe pool-restore-database): check the uploaded dump, then (unless dry_run) make the pool database hold exactly its objects.',
      { async: false, hidden: true }),
    msg('join', JOIN_PARAMS, null, JOIN_ERRORS, 'pool-operator',
      'Run on a standalone host: make it a member of the pool whose master is at master_address.'),
    msg('join_force', JOIN_PARAMS, null, JOIN_ERRORS, 'pool-operator',
      'As join; the checks that hosts are alike are the same here (xcpnet hosts are all alike).'),
    msg('eject', [p('host', t.ref('host'))], null, ['OPERATION_NOT_ALLOWED', 'HOST_IS_SLAVE'], 'pool-operator',
      'Remove a member from the pool; it comes back as a standalone host with its management interface.'),
    msg('rotate_secret', [], null, ['HOST_IS_SLAVE'], 'pool-admin',
      'Replace every member\'s host credential; members fetch their new one with the old one.'),
    msg('recover_slaves', [], t.set(t.ref('host')), ['OPERATION_NOT_ALLOWED', 'HOST_IS_SLAVE'], 'pool-operator',
      'Tell every member the master\'s current management address (after it changed): each is called over TLS, its certificate checked against the one it joined with; returns the members that took it.'),
    msg('emergency_reset_master', [p('master_address', t.string, 'The master\'s address: IPv4 or a DNS name.')], null,
      ['OPERATION_NOT_ALLOWED', 'INVALID_VALUE', 'SESSION_AUTHENTICATION_FAILED'], 'pool-operator',
      'On a pool member (from the master\'s pool.recover_slaves, or on the member\'s own socket): follow the master at this address from now on. Refused on a master or a standalone host.',
      { async: false }),
    msg('admit_host', [p('joiner', t.any, 'The joining host: uuid, names, address, API version, physical PIFs (src/server/impl/membership.ts).')],
      t.any, JOIN_ERRORS, 'pool-operator',
      'xcpnet extension: the master\'s half of pool.join (the joining host calls it); returns the host ref and its credential.',
      { async: false, hidden: true }),
    msg('create_new_blob', [
      p('pool', t.ref('pool')), p('name', t.string), p('mime_type', t.string),
      p('public', t.bool, 'Whether the blob is readable without a session.', false),
    ], t.ref('blob'), ['MAP_DUPLICATE_KEY'], 'pool-operator', 'Create a blob and store it in blobs under the given name; its content is sent to /blob?ref=.'),
  ],
};
