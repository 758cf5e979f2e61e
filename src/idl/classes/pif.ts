// PIF: a host interface (physical NIC, bond master, VLAN or tunnel access PIF) on a network.
import type { ClassDef } from '../meta.js';
import {
  field, msg, otherConfig, p, stringMap, t, uniq, uuidField, NULL_REF,
  PIF_UNPLUG_ERRORS, REALISE_ERRORS, VLAN_CREATE_ERRORS, VLAN_DESTROY_ERRORS,
} from './_helpers.js';
import { bondKey, cidr, dnsServers, domainKey, ifName, ipAddress, mac, mtuKey, vlanTag, PIF_PROPERTIES } from '../checks.js';

export const ipConfigurationMode = t.enumOf('ip_configuration_mode', ['None', 'DHCP', 'Static']);
export const ipv6ConfigurationMode = t.enumOf('ipv6_configuration_mode', ['None', 'DHCP', 'Static', 'Autoconf']);
export const primaryAddressType = t.enumOf('primary_address_type', ['IPv4', 'IPv6']);
export const pifIgmpStatus = t.enumOf('pif_igmp_status', ['enabled', 'disabled', 'unknown']);

const self = p('self', t.ref('PIF'));
const HA_GATE = ['HA_IS_ENABLED', 'REDO_LOG_IS_ENABLED'];

export const PIFClass: ClassDef = {
  name: 'PIF',
  doc: 'A network interface of a host, connecting that host to a network.',
  persistent: true,
  events: true,
  writeRole: 'pool-operator',
  fields: [
    uuidField(),
    field('device', t.string, 'StaticRO', 'Interface name: eth0, bond0, tunnel0; a VLAN PIF has its parent\'s.', { check: ifName() }),
    field('network', t.ref('network'), 'StaticRO', 'Network (bridge) the PIF belongs to.', { indexed: true }),
    field('host', t.ref('host'), 'StaticRO', 'Host the PIF exists on.', { indexed: true }),
    field('MAC', t.string, 'StaticRO', 'MAC address (fe:ff:ff:ff:ff:ff on VLAN PIFs).', { check: mac({ empty: true }) }),
    field('MTU', t.int, 'StaticRO', 'MTU actually in use, refreshed after each plug.'),
    field('VLAN', t.int, 'StaticRO', 'VLAN tag, or -1 for a non-VLAN PIF.', { check: vlanTag({ none: true }) }),
    field('metrics', t.ref('PIF_metrics'), 'DynamicRO', 'Metrics object (VLAN and tunnel PIFs share their parent\'s).', { default: NULL_REF }),
    field('physical', t.bool, 'DynamicRO', 'True for a real NIC.', { default: false }),
    field('currently_attached', t.bool, 'DynamicRO', 'True while the interface is plugged (configured on the host).', { default: true }),
    field('ip_configuration_mode', ipConfigurationMode, 'DynamicRO', 'How IPv4 is configured.', { default: 'None' }),
    field('IP', t.string, 'DynamicRO', 'IPv4 address.', { default: '', check: ipAddress(4, { empty: true }) }),
    field('netmask', t.string, 'DynamicRO', 'IPv4 netmask, dotted.', { default: '', check: ipAddress(4, { empty: true }) }),
    field('gateway', t.string, 'DynamicRO', 'IPv4 gateway.', { default: '', check: ipAddress(4, { empty: true }) }),
    field('DNS', t.string, 'DynamicRO', 'Comma-separated DNS servers (both families).', { default: '', check: dnsServers }),
    field('bond_slave_of', t.ref('Bond'), 'DynamicRO', 'Bond this PIF is a member of.', { default: NULL_REF }),
    field('bond_master_of', t.set(t.ref('Bond')), 'DynamicRO', 'Bonds this PIF is the master of (0 or 1).', { default: [] }),
    field('VLAN_master_of', t.ref('VLAN'), 'DynamicRO', 'On a VLAN PIF: the VLAN it carries.', { default: NULL_REF }),
    field('VLAN_slave_of', t.set(t.ref('VLAN')), 'DynamicRO', 'VLANs stacked on this PIF.', { default: [] }),
    field('management', t.bool, 'DynamicRO', 'True when this is the host\'s management interface.', { default: false }),
    { ...otherConfig('Free-form settings; mtu, ethtool-*, domain, bond-*, defaultroute, peerdns are interpreted.'),
      keys: { mtu: mtuKey, 'bond-*': bondKey, domain: domainKey } },
    field('disallow_unplug', t.bool, 'DynamicRO', 'Protects the PIF from unplug.', { default: false }),
    field('tunnel_access_PIF_of', t.set(t.ref('tunnel')), 'DynamicRO', 'Tunnels whose access PIF this is.', { default: [] }),
    field('tunnel_transport_PIF_of', t.set(t.ref('tunnel')), 'DynamicRO', 'Tunnels carried over this PIF.', { default: [] }),
    field('ipv6_configuration_mode', ipv6ConfigurationMode, 'DynamicRO', 'How IPv6 is configured.', { default: 'None' }),
    field('IPv6', t.set(t.string), 'DynamicRO', 'IPv6 addresses as addr/prefixlen.', { default: [], check: cidr(6) }),
    field('ipv6_gateway', t.string, 'DynamicRO', 'IPv6 gateway.', { default: '', check: ipAddress(6, { empty: true }) }),
    field('primary_address_type', primaryAddressType, 'DynamicRO', 'Address family that defines the PIF\'s address.', { default: 'IPv4' }),
    field('managed', t.bool, 'StaticRO', 'False: never configured by the toolstack.', { default: true }),
    field('properties', stringMap, 'DynamicRO', 'Device properties; only gro=on|off.', { default: {}, keys: PIF_PROPERTIES }),
    field('capabilities', t.set(t.string), 'DynamicRO', 'Capabilities reported by the host (fcoe, sriov...).', { default: [] }),
    field('igmp_snooping_status', pifIgmpStatus, 'DynamicRO', 'IGMP snooping state of the bridge.', { default: 'unknown' }),
    field('sriov_physical_PIF_of', t.set(t.ref('network_sriov')), 'DynamicRO', 'SR-IOV objects using this as physical PIF.', { default: [] }),
    field('sriov_logical_PIF_of', t.set(t.ref('network_sriov')), 'DynamicRO', 'SR-IOV objects using this as logical PIF.', { default: [] }),
    field('PCI', t.ref('PCI'), 'DynamicRO', 'Underlying PCI device.', { default: NULL_REF }),
    field('device_name', t.string, 'DynamicRO', 'Original device name, kept internally.', { default: '', internal: true }),
  ],
  messages: [
    msg('scan', [p('host', t.ref('host'))], null, [], 'pool-operator',
      'Find the host\'s NICs, refresh existing PIFs and introduce missing ones; never deletes.'),
    msg('introduce', [
      p('host', t.ref('host')), p('MAC', t.string), p('device', t.string),
      p('managed', t.bool, 'False: never configure it.', true),
    ], t.ref('PIF'), ['MAC_INVALID', 'DUPLICATE_PIF_DEVICE_NAME', 'COULD_NOT_FIND_NETWORK_INTERFACE_WITH_SPECIFIED_DEVICE_NAME_AND_MAC_ADDRESS'],
    'pool-operator', 'Create the PIF of one physical NIC of a host (and its pool-wide network if needed).'),
    msg('forget', [self], null, [
      'PIF_IS_MANAGEMENT_INTERFACE', 'PIF_ALREADY_BONDED', 'PIF_VLAN_STILL_EXISTS', 'PIF_TUNNEL_STILL_EXISTS',
      ...HA_GATE, 'CANNOT_FORGET_SRIOV_LOGICAL', 'PIF_SRIOV_STILL_EXISTS', 'CLUSTERING_ENABLED',
    ], 'pool-operator', 'Delete the PIF and its metrics; the network stays.'),
    msg('plug', [self], null, ['PIF_UNMANAGED', 'TRANSPORT_PIF_NOT_CONFIGURED', 'CANNOT_PLUG_BOND_SLAVE', ...REALISE_ERRORS],
      'pool-operator', 'Bring the interface up with its bridge and IP configuration.'),
    msg('unplug', [self], null, [...PIF_UNPLUG_ERRORS, ...REALISE_ERRORS], 'pool-operator',
      'Take the interface and its bridge down (a no-op on a bond member).'),
    msg('reconfigure_ip', [
      self, p('mode', ipConfigurationMode), p('IP', t.string), p('netmask', t.string),
      p('gateway', t.string), p('DNS', t.string),
    ], null, ['PIF_UNMANAGED', ...HA_GATE, 'CLUSTERING_ENABLED', 'INVALID_IP_ADDRESS_SPECIFIED', 'PIF_IS_MANAGEMENT_INTERFACE', ...REALISE_ERRORS],
    'pool-operator', 'Store a new IPv4 configuration and re-plug if attached.'),
    msg('reconfigure_ipv6', [
      self, p('mode', ipv6ConfigurationMode), p('IPv6', t.string), p('gateway', t.string), p('DNS', t.string),
    ], null, ['PIF_UNMANAGED', ...HA_GATE, 'CLUSTERING_ENABLED', 'INVALID_IP_ADDRESS_SPECIFIED', 'INVALID_CIDR_ADDRESS_SPECIFIED', 'PIF_IS_MANAGEMENT_INTERFACE', ...REALISE_ERRORS],
    'pool-operator', 'Store a new IPv6 configuration and re-plug if attached.'),
    msg('set_primary_address_type', [self, p('primary_address_type', primaryAddressType)], null,
      [...HA_GATE, 'PIF_IS_MANAGEMENT_INTERFACE'], 'pool-operator', 'Choose which address family is the PIF\'s primary one.'),
    msg('set_property', [self, p('name', t.string), p('value', t.string)], null,
      ['INVALID_VALUE', 'CANNOT_CHANGE_PIF_PROPERTIES'], 'pool-operator',
      'Set a device property (gro); copied to bond members; re-plugs if attached.'),
    msg('set_disallow_unplug', [self, p('value', t.bool)], null, ['CLUSTERING_ENABLED', 'OTHER_OPERATION_IN_PROGRESS'],
      'pool-operator', 'Set disallow_unplug (database only).'),
    msg('create_VLAN', [p('device', t.string), p('network', t.ref('network')), p('host', t.ref('host')), p('VLAN', t.int)],
      t.ref('PIF'), uniq(['INVALID_VALUE', ...VLAN_CREATE_ERRORS, ...REALISE_ERRORS]), 'pool-operator',
      'Deprecated: create a VLAN on the host\'s PIF with this device; returns the VLAN PIF.'),
    msg('destroy', [self], null, uniq(['PIF_IS_PHYSICAL', ...VLAN_DESTROY_ERRORS]), 'pool-operator',
      'Deprecated: destroy a VLAN PIF through its VLAN.'),
    msg('pool_introduce', dbIntroduceParams(), t.ref('PIF'), ['NETWORK_INCOMPATIBLE_WITH_TRUNKS'], 'pool-operator',
      'Insert a PIF record as given (pool join).', { hidden: true }),
    msg('db_introduce', dbIntroduceParams(), t.ref('PIF'), ['NETWORK_INCOMPATIBLE_WITH_TRUNKS'], 'pool-operator',
      'Insert a PIF record as given, database only.'),
    msg('db_forget', [self], null, [], 'pool-operator', 'Delete the PIF record only, touching nothing on the host.'),
  ],
};

function dbIntroduceParams() {
  return [
    p('device', t.string), p('network', t.ref('network')), p('host', t.ref('host')), p('MAC', t.string),
    p('MTU', t.int), p('VLAN', t.int), p('physical', t.bool), p('ip_configuration_mode', ipConfigurationMode),
    p('IP', t.string), p('netmask', t.string), p('gateway', t.string), p('DNS', t.string),
    p('bond_slave_of', t.ref('Bond')), p('VLAN_master_of', t.ref('VLAN')), p('management', t.bool),
    p('other_config', stringMap),
    p('disallow_unplug', t.bool, undefined, false),
    p('ipv6_configuration_mode', ipv6ConfigurationMode, undefined, 'None'),
    p('IPv6', t.set(t.string), undefined, []),
    p('ipv6_gateway', t.string, undefined, ''),
    p('primary_address_type', primaryAddressType, undefined, 'IPv4'),
    p('managed', t.bool, undefined, true),
    p('properties', stringMap, undefined, {}),
  ];
}
