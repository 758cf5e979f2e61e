// host: a server of the pool (the networking subset of its fields).
import type { ClassDef } from '../meta.js';
import { field, msg, nameFields, otherConfig, p, stringMap, t, uuidField, NULL_REF, REALISE_ERRORS } from './_helpers.js';

const MGMT_TARGET_ERRORS = ['CANNOT_PLUG_BOND_SLAVE', 'PIF_HAS_NO_NETWORK_CONFIGURATION', 'PIF_HAS_NO_V6_NETWORK_CONFIGURATION'];

export const hostClass: ClassDef = {
  name: 'host',
  doc: 'A physical server in the pool.',
  persistent: true,
  events: true,
  nameLabel: true,
  writeRole: 'pool-operator',
  fields: [
    uuidField(),
    ...nameFields(),
    field('API_version_major', t.int, 'DynamicRO', 'Major version of the API the host speaks.', { default: 0 }),
    field('API_version_minor', t.int, 'DynamicRO', 'Minor version of the API the host speaks.', { default: 0 }),
    field('API_version_vendor', t.string, 'DynamicRO', 'Vendor of the API implementation.', { default: '' }),
    field('API_version_vendor_implementation', stringMap, 'DynamicRO', 'Vendor-specific version details.', { default: {} }),
    field('enabled', t.bool, 'DynamicRO', 'False while the host is disabled (e.g. maintenance).', { default: false }),
    field('software_version', stringMap, 'StaticRO', 'Software versions; network_backend says openvswitch or bridge.', { default: {} }),
    otherConfig(),
    field('resident_VMs', t.set(t.ref('VM')), 'DynamicRO', 'VMs currently running on this host.', { default: [] }),
    field('PIFs', t.set(t.ref('PIF')), 'DynamicRO', 'Interfaces of this host.', { default: [] }),
    field('hostname', t.string, 'RW', 'OS hostname, refreshed after networking changes.', { default: '' }),
    field('address', t.string, 'RW', 'Management IP address; "" when there is none.', { default: '' }),
    field('control_domain', t.ref('VM'), 'DynamicRO', 'The control domain (dom0) VM.', { default: NULL_REF }),
    field('management_bridge', t.string, 'DynamicRO', 'Configured management bridge ("" = disabled); outside the DB in xapi.', { default: '', internal: true }),
    field('management_address_type', t.string, 'DynamicRO', 'Management address family: ipv4 or ipv6.', { default: 'ipv4', internal: true }),
  ],
  messages: [
    msg('management_reconfigure', [p('pif', t.ref('PIF'))], null, ['HA_IS_ENABLED', ...MGMT_TARGET_ERRORS, ...REALISE_ERRORS],
      'pool-operator', 'Make the PIF the management interface of its host (the old one stays plugged).'),
    msg('management_disable', [], null, ['HA_IS_ENABLED', 'SLAVE_REQUIRES_MANAGEMENT_INTERFACE'], 'pool-operator',
      'Turn off the management interface of the host serving the call.', { async: false }),
    msg('get_management_interface', [p('host', t.ref('host'))], t.ref('PIF'), ['INTERNAL_ERROR'], 'read-only',
      'Return the host\'s management PIF.', { async: false }),
    msg('local_management_reconfigure', [p('interface', t.string)], null, ['NOT_IN_EMERGENCY_MODE'], 'pool-operator',
      'Emergency mode only: set the management bridge directly.', { async: false }),
    msg('report_network_state', [
      p('host', t.ref('host')), p('generation', t.int, 'Database generation the report realises.'),
      p('state', t.any, 'Struct of observations: backend, nics, errors, PIFs, Bonds, bridges (docs/design/agent-protocol.md).'),
    ], null, ['INVALID_VALUE'], 'pool-admin',
    'xcpnet extension: the host agent reports what is real on the host and the generation it has realised.',
    { async: false, hidden: true }),
    msg('install_server_certificate', [
      p('host', t.ref('host')), p('certificate', t.string, 'PEM: the server certificate.'),
      p('private_key', t.string, 'PEM: its private key (RSA 2048 to 4096 bits, or EC P-256/P-384).'),
      p('certificate_chain', t.string, 'PEM: intermediate certificates, or "".'),
    ], null, ['SERVER_CERTIFICATE_KEY_INVALID', 'SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED',
      'SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED', 'SERVER_CERTIFICATE_INVALID', 'SERVER_CERTIFICATE_KEY_MISMATCH',
      'SERVER_CERTIFICATE_NOT_VALID_YET', 'SERVER_CERTIFICATE_EXPIRED', 'SERVER_CERTIFICATE_CHAIN_INVALID'], 'pool-admin',
    'Install the TLS server certificate and key of the host; new connections use it at once, no restart.'),
    msg('get_server_certificate', [p('host', t.ref('host'))], t.string, [], 'read-only',
      'The TLS server certificate the host presents (PEM).', { async: false }),
    msg('get_bridges', [p('host', t.ref('host'))], t.any, [], 'read-only',
      'xcpnet extension: the bridges and their interfaces as the host\'s agent last reported them ({name, id, stp, interfaces}).',
      { async: false, hidden: true }),
  ],
};
