// The CLI's view of each class (xe's names, order and markers, ocaml/xapi-cli-server/records.ml; its default columns).
// Rows name the IDL field they show; everything else (type, qualifier, setters) is derived
// from the IDL in fields.ts. Only what the IDL cannot say is written here.
import type { Rec } from '../idl/meta.js';
import { NOT_IN_DB, uuidOf, via, type Caller, type Spec, type View } from './fields.js';
import { formatFloat } from './layout.js';

export interface CliClass {
  /** Command prefix: `network`, `pif`, `vif`… */
  prefix: string;
  /** Wire class name: `network`, `PIF`, `VIF`… */
  cls: string;
  fields: Spec[];
  /** Default columns of `-list`, by CLI name. */
  defaults: string[];
  /** Built-in `-list` filters (vm-list shows no templates). */
  listFilter?: Record<string, string>;
}

const metric = (field: string) => (rec: Rec, view: View): string => via(view, 'PIF_metrics', rec.metrics, field);

/** The PIF's metrics record, when its ref resolves. */
const metricsOf = (rec: Rec, view: View): Rec | undefined =>
  (typeof rec.metrics === 'string' ? view.rec('PIF_metrics', rec.metrics) : undefined);

/** Metrics-backed PIF fields; unreadable metrics print `<not in database>`. */
const pifMetric = (cli: string, field: string): Spec => ({ cli, marker: '( RO)', deps: ['PIF_metrics'], get: metric(field) });

function speed(rec: Rec, view: View): string {
  const s = via(view, 'PIF_metrics', rec.metrics, 'speed');
  return s === NOT_IN_DB ? s : `${s} Mbit/s`;
}

function duplex(rec: Rec, view: View): string {
  const m = metricsOf(rec, view);
  if (m === undefined) return NOT_IN_DB;
  return m.duplex === true ? 'full' : m.carrier === true ? 'half' : 'unknown';
}

function kbs(rec: Rec, view: View, field: string): string {
  const m = metricsOf(rec, view);
  return m === undefined ? NOT_IN_DB : formatFloat(typeof m[field] === 'number' ? m[field] as number : 0);
}

/** Fields read through another object's record: `network-name-label` and the like. */
const through = (cli: string, refField: string, cls: string, field: string): Spec =>
  ({ cli, marker: '( RO)', deps: [cls], get: (rec, view) => via(view, cls, rec[refField], field) });

const uuidThrough = (cli: string, refField: string, cls: string): Spec =>
  ({ cli, marker: '( RO)', deps: [cls], get: (rec, view) => uuidOf(view, cls, rec[refField]) });

export const NETWORK: CliClass = {
  prefix: 'network', cls: 'network',
  defaults: ['uuid', 'name-label', 'name-description', 'bridge'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'name-label', api: 'name_label' },
    { cli: 'name-description', api: 'name_description' },
    { cli: 'VIF-uuids', api: 'VIFs' },
    { cli: 'PIF-uuids', api: 'PIFs' },
    { cli: 'MTU', api: 'MTU' },
    { cli: 'bridge', api: 'bridge' },
    { cli: 'managed', api: 'managed' },
    { cli: 'other-config', api: 'other_config' },
    // Blob refs print as the blobs' uuids.
    { cli: 'blobs', api: 'blobs', marker: '( RO)' },
    { cli: 'tags', api: 'tags', sep: ', ' },
    { cli: 'default-locking-mode', api: 'default_locking_mode', setter: 'set_default_locking_mode' },
    { cli: 'purpose', api: 'purpose', sep: ', ', adder: 'add_purpose', remover: 'remove_purpose' },
  ],
};

export const PIF: CliClass = {
  prefix: 'pif', cls: 'PIF',
  defaults: ['uuid', 'device', 'MAC', 'currently-attached', 'VLAN', 'network-uuid', 'host-uuid'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'device', api: 'device' },
    { cli: 'MAC', api: 'MAC' },
    { cli: 'physical', api: 'physical' },
    { cli: 'managed', api: 'managed' },
    { cli: 'currently-attached', api: 'currently_attached' },
    { cli: 'MTU', api: 'MTU' },
    { cli: 'VLAN', api: 'VLAN' },
    { cli: 'vlan-master-of', api: 'VLAN_master_of' },
    { cli: 'vlan-slave-of', api: 'VLAN_slave_of', marker: '( RO)' },
    { cli: 'bond-master-of', api: 'bond_master_of', marker: '( RO)' },
    { cli: 'bond-slave-of', api: 'bond_slave_of' },
    { cli: 'sriov-physical-PIF-of', api: 'sriov_physical_PIF_of', marker: '( RO)' },
    { cli: 'sriov-logical-PIF-of', api: 'sriov_logical_PIF_of', marker: '( RO)' },
    { cli: 'tunnel-access-PIF-of', api: 'tunnel_access_PIF_of', marker: '( RO)' },
    { cli: 'tunnel-transport-PIF-of', api: 'tunnel_transport_PIF_of', marker: '( RO)' },
    { cli: 'management', api: 'management' },
    uuidThrough('network-uuid', 'network', 'network'),
    through('network-name-label', 'network', 'network', 'name_label'),
    uuidThrough('host-uuid', 'host', 'host'),
    through('host-name-label', 'host', 'host', 'name_label'),
    { cli: 'IP-configuration-mode', api: 'ip_configuration_mode' },
    { cli: 'IP', api: 'IP' },
    { cli: 'netmask', api: 'netmask' },
    { cli: 'gateway', api: 'gateway' },
    { cli: 'IPv6-configuration-mode', api: 'ipv6_configuration_mode' },
    { cli: 'IPv6', api: 'IPv6', marker: '( RO)' },
    { cli: 'IPv6-gateway', api: 'ipv6_gateway' },
    { cli: 'primary-address-type', api: 'primary_address_type' },
    { cli: 'DNS', api: 'DNS' },
    { cli: 'properties', api: 'properties', keySetter: 'set_property' },
    { cli: 'capabilities', api: 'capabilities' },
    { cli: 'io_read_kbs', marker: '( RO)', expensive: true, deps: ['PIF_metrics'], get: (r, v) => kbs(r, v, 'io_read_kbs') },
    { cli: 'io_write_kbs', marker: '( RO)', expensive: true, deps: ['PIF_metrics'], get: (r, v) => kbs(r, v, 'io_write_kbs') },
    pifMetric('carrier', 'carrier'),
    pifMetric('vendor-id', 'vendor_id'),
    pifMetric('vendor-name', 'vendor_name'),
    pifMetric('device-id', 'device_id'),
    pifMetric('device-name', 'device_name'),
    { cli: 'speed', marker: '( RO)', deps: ['PIF_metrics'], get: speed },
    { cli: 'duplex', marker: '( RO)', deps: ['PIF_metrics'], get: duplex },
    { cli: 'disallow-unplug', api: 'disallow_unplug', setter: 'set_disallow_unplug' },
    pifMetric('pci-bus-path', 'pci_bus_path'),
    { cli: 'other-config', api: 'other_config' },
    { cli: 'igmp-snooping-status', api: 'igmp_snooping_status' },
  ],
};

/** VIF_metrics is a removed class: its counters are always zero. */
const zeroKbs = (): string => formatFloat(0);

export const VIF: CliClass = {
  prefix: 'vif', cls: 'VIF',
  defaults: ['uuid', 'vm-uuid', 'device', 'network-uuid'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    uuidThrough('vm-uuid', 'VM', 'VM'),
    through('vm-name-label', 'VM', 'VM', 'name_label'),
    { cli: 'allowed-operations', api: 'allowed_operations' },
    { cli: 'current-operations', api: 'current_operations', marker: '(SRO)' },
    { cli: 'device', api: 'device' },
    { cli: 'MAC', api: 'MAC' },
    { cli: 'MAC-autogenerated', api: 'MAC_autogenerated' },
    { cli: 'MTU', api: 'MTU' },
    { cli: 'currently-attached', api: 'currently_attached' },
    { cli: 'qos_algorithm_type', api: 'qos_algorithm_type' },
    { cli: 'qos_algorithm_params', api: 'qos_algorithm_params' },
    { cli: 'qos_supported_algorithms', api: 'qos_supported_algorithms' },
    { cli: 'other-config', api: 'other_config' },
    uuidThrough('network-uuid', 'network', 'network'),
    through('network-name-label', 'network', 'network', 'name_label'),
    { cli: 'io_read_kbs', marker: '( RO)', expensive: true, get: zeroKbs, compute: async () => zeroKbs() },
    { cli: 'io_write_kbs', marker: '( RO)', expensive: true, get: zeroKbs, compute: async () => zeroKbs() },
    { cli: 'locking-mode', api: 'locking_mode', setter: 'set_locking_mode' },
    { cli: 'ipv4-allowed', api: 'ipv4_allowed', setter: 'set_ipv4_allowed', adder: 'add_ipv4_allowed', remover: 'remove_ipv4_allowed' },
    { cli: 'ipv6-allowed', api: 'ipv6_allowed', setter: 'set_ipv6_allowed', adder: 'add_ipv6_allowed', remover: 'remove_ipv6_allowed' },
    { cli: 'ipv4-configuration-mode', api: 'ipv4_configuration_mode' },
    { cli: 'ipv4-addresses', api: 'ipv4_addresses', marker: '( RO)' },
    { cli: 'ipv4-gateway', api: 'ipv4_gateway' },
    { cli: 'ipv6-configuration-mode', api: 'ipv6_configuration_mode' },
    { cli: 'ipv6-addresses', api: 'ipv6_addresses', marker: '( RO)' },
    { cli: 'ipv6-gateway', api: 'ipv6_gateway' },
    { cli: 'trunks', api: 'trunks', setter: 'set_trunks', adder: 'add_trunks', remover: 'remove_trunks' },
  ],
};

export const VLAN: CliClass = {
  prefix: 'vlan', cls: 'VLAN',
  defaults: ['uuid', 'tagged-PIF', 'untagged-PIF', 'tag'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'tagged-PIF', api: 'tagged_PIF' },
    { cli: 'untagged-PIF', api: 'untagged_PIF' },
    { cli: 'tag', api: 'tag' },
  ],
};

export const BOND: CliClass = {
  prefix: 'bond', cls: 'Bond',
  defaults: ['uuid', 'master', 'slaves'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'master', api: 'master' },
    { cli: 'slaves', api: 'slaves', marker: '( RO)' },
    { cli: 'mode', api: 'mode' },
    { cli: 'properties', api: 'properties', keySetter: 'set_property' },
    { cli: 'primary-slave', api: 'primary_slave' },
    { cli: 'links-up', api: 'links_up' },
    { cli: 'auto-update-mac', api: 'auto_update_mac' },
  ],
};

export const TUNNEL: CliClass = {
  prefix: 'tunnel', cls: 'tunnel',
  defaults: ['uuid', 'access-PIF', 'transport-PIF', 'status'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'access-PIF', api: 'access_PIF' },
    { cli: 'transport-PIF', api: 'transport_PIF' },
    { cli: 'status', api: 'status', marker: '( RO)' },
    { cli: 'other-config', api: 'other_config' },
    { cli: 'protocol', api: 'protocol', marker: '( RO)' },
  ],
};

export const HOST: CliClass = {
  prefix: 'host', cls: 'host',
  defaults: ['uuid', 'name-label', 'name-description'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'name-label', api: 'name_label' },
    { cli: 'name-description', api: 'name_description' },
    { cli: 'enabled', api: 'enabled' },
    { cli: 'API-version-major', api: 'API_version_major' },
    { cli: 'API-version-minor', api: 'API_version_minor' },
    { cli: 'API-version-vendor', api: 'API_version_vendor' },
    { cli: 'API-version-vendor-implementation', api: 'API_version_vendor_implementation' },
    { cli: 'software-version', api: 'software_version' },
    { cli: 'other-config', api: 'other_config' },
    { cli: 'hostname', api: 'hostname', marker: '( RO)' },
    { cli: 'address', api: 'address', marker: '( RO)' },
    { cli: 'resident-vms', api: 'resident_VMs' },
  ],
};

async function allowedVifDevices(c: Caller, ref: string): Promise<string> {
  return (await c.call<string[]>('VM.get_allowed_VIF_devices', ref)).join('; ');
}

export const VM: CliClass = {
  prefix: 'vm', cls: 'VM',
  defaults: ['uuid', 'name-label', 'power-state'],
  listFilter: { 'is-a-template': 'false' },
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'name-label', api: 'name_label' },
    { cli: 'name-description', api: 'name_description' },
    { cli: 'allowed-operations', api: 'allowed_operations' },
    { cli: 'current-operations', api: 'current_operations', marker: '(SRO)' },
    { cli: 'power-state', api: 'power_state', lower: true },
    { cli: 'is-a-template', api: 'is_a_template' },
    { cli: 'is-control-domain', api: 'is_control_domain' },
    { cli: 'allowed-VIF-devices', marker: '(SRO)', expensive: true, get: () => '',
      compute: (c, ref) => allowedVifDevices(c, ref) },
    { cli: 'resident-on', api: 'resident_on' },
    { cli: 'affinity', api: 'affinity' },
    { cli: 'dom-id', api: 'domid' },
    { cli: 'other-config', api: 'other_config' },
    // Reported by a guest agent; no guest agent reports here, so the map is always empty.
    { cli: 'networks', marker: '(MRO)', get: () => '', getMap: () => ({}) },
  ],
};

export const POOL: CliClass = {
  prefix: 'pool', cls: 'pool',
  defaults: ['uuid', 'name-label', 'name-description', 'master', 'default-SR'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'name-label', api: 'name_label' },
    { cli: 'name-description', api: 'name_description' },
    { cli: 'master', api: 'master' },
    // SR is not modelled: the ref never resolves, and there is no SR uuid to set it to.
    { cli: 'default-SR', api: 'default_SR', marker: '( RO)' },
    { cli: 'other-config', api: 'other_config' },
    { cli: 'ha-enabled', api: 'ha_enabled' },
    { cli: 'redo-log-enabled', api: 'redo_log_enabled' },
    { cli: 'igmp-snooping-enabled', api: 'igmp_snooping_enabled' },
    { cli: 'vswitch-controller', api: 'vswitch_controller', deprecated: true },
  ],
};

export const MESSAGE: CliClass = {
  prefix: 'message', cls: 'message',
  // xe lists every field of a message.
  defaults: ['uuid', 'name', 'priority', 'class', 'obj-uuid', 'timestamp', 'body'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'name', api: 'name' },
    { cli: 'priority', api: 'priority' },
    { cli: 'class', api: 'cls' },
    { cli: 'obj-uuid', api: 'obj_uuid' },
    { cli: 'timestamp', api: 'timestamp' },
    { cli: 'body', api: 'body' },
  ],
};

export const NETWORK_SRIOV: CliClass = {
  prefix: 'network-sriov', cls: 'network_sriov',
  defaults: ['uuid', 'physical-PIF', 'logical-PIF', 'requires-reboot'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'physical-PIF', api: 'physical_PIF' },
    { cli: 'logical-PIF', api: 'logical_PIF' },
    { cli: 'requires-reboot', api: 'requires_reboot' },
    { cli: 'remaining-capacity', marker: '( RO)', expensive: true, get: () => '',
      compute: async (c, ref) => { try { return String(await c.call<number>('network_sriov.get_remaining_capacity', ref)); } catch { return '<unknown>'; } } },
  ],
};

export const SDN_CONTROLLER: CliClass = {
  prefix: 'sdn-controller', cls: 'SDN_controller',
  defaults: ['uuid', 'protocol', 'address', 'port'],
  fields: [
    { cli: 'uuid', api: 'uuid' },
    { cli: 'protocol', api: 'protocol' },
    { cli: 'address', api: 'address' },
    { cli: 'port', api: 'port' },
  ],
};

export const CLI_CLASSES: CliClass[] = [NETWORK, PIF, VIF, VLAN, BOND, TUNNEL, HOST, VM, POOL, MESSAGE, NETWORK_SRIOV, SDN_CONTROLLER];

export function findCliClass(prefix: string): CliClass | undefined {
  return CLI_CLASSES.find((c) => c.prefix === prefix);
}
