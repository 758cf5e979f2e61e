// VM: a guest, here a network endpoint with VIFs, a power state and a resident host.
import type { ClassDef } from '../meta.js';
import { field, msg, nameFields, otherConfig, p, t, uniq, uuidField, NULL_REF, REALISE_ERRORS } from './_helpers.js';

export const vmPowerState = t.enumOf('vm_power_state', ['Halted', 'Paused', 'Running', 'Suspended']);
/** xapi's whole enum; allowed_operations lists the operations xcpnet implements (src/server/impl/vm-ops.ts). */
export const vmOperations = t.enumOf('vm_operations', [
  'snapshot', 'clone', 'copy', 'create_template', 'revert', 'checkpoint', 'snapshot_with_quiesce', 'provision', 'start',
  'start_on', 'pause', 'unpause', 'clean_shutdown', 'clean_reboot', 'hard_shutdown', 'power_state_reset', 'hard_reboot',
  'suspend', 'csvm', 'resume', 'resume_on', 'pool_migrate', 'migrate_send', 'get_boot_record', 'send_sysrq', 'send_trigger',
  'query_services', 'shutdown', 'call_plugin', 'changing_memory_live', 'awaiting_memory_live', 'changing_dynamic_range',
  'changing_static_range', 'changing_memory_limits', 'changing_shadow_memory', 'changing_shadow_memory_live',
  'changing_VCPUs', 'changing_VCPUs_live', 'changing_NVRAM', 'assert_operation_valid', 'data_source_op',
  'update_allowed_operations', 'make_into_template', 'import', 'export', 'metadata_export', 'reverting', 'destroy', 'create_vtpm',
]);

const vm = p('vm', t.ref('VM'));
/** The operation checks, in order (xen-api: ocaml/xapi/xapi_vm_lifecycle.ml). */
const OP_ERRORS = ['OPERATION_BLOCKED', 'VM_BAD_POWER_STATE', 'OTHER_OPERATION_IN_PROGRESS', 'VM_IS_TEMPLATE', 'VM_IS_SNAPSHOT', 'OPERATION_NOT_ALLOWED'];
const START_ERRORS = [...OP_ERRORS, 'VM_REQUIRES_NETWORK', 'HOST_CANNOT_ATTACH_NETWORK', ...REALISE_ERRORS];
const BOOT_ERRORS = ['HOST_OFFLINE', 'HOST_DISABLED', 'VM_REQUIRES_NETWORK', 'HOST_CANNOT_ATTACH_NETWORK'];
const MIGRATE_ERRORS = uniq([...OP_ERRORS, ...BOOT_ERRORS, ...REALISE_ERRORS]);

export const VMClass: ClassDef = {
  name: 'VM',
  doc: 'A virtual machine, seen as a network endpoint.',
  persistent: true,
  events: true,
  nameLabel: true,
  create: true,
  writeRole: 'vm-admin',
  fields: [
    uuidField(),
    field('allowed_operations', t.set(vmOperations), 'DynamicRO', 'Operations allowed in the current state.', { default: [] }),
    field('current_operations', t.map(t.string, vmOperations), 'DynamicRO', 'Operations in progress, by task.', { default: {} }),
    ...nameFields(),
    field('power_state', vmPowerState, 'StaticRO', 'Current power state.', { default: 'Halted' }),
    field('is_a_template', t.bool, 'RW', 'True for a template, which cannot be started.', { default: false }),
    field('resident_on', t.ref('host'), 'DynamicRO', 'Host the VM runs on; null when not running.', { default: NULL_REF }),
    field('affinity', t.ref('host'), 'RW', 'Preferred host to start on.', { default: NULL_REF, writeRole: 'vm-power-admin' }),
    field('VIFs', t.set(t.ref('VIF')), 'DynamicRO', 'Virtual interfaces of the VM.', { default: [] }),
    otherConfig('Free-form; mac_seed drives VIF MAC generation.'),
    field('domid', t.int, 'DynamicRO', 'Domain id, -1 when the VM has no domain.', { default: -1 }),
    field('is_control_domain', t.bool, 'DynamicRO', 'True for a host\'s control domain (dom0).', { default: false }),
  ],
  messages: [
    msg('start', [vm, p('start_paused', t.bool), p('force', t.bool)], null, START_ERRORS, 'vm-operator',
      'Start the VM on a host where all its networks are usable, plugging its VIFs.'),
    msg('start_on', [vm, p('host', t.ref('host')), p('start_paused', t.bool), p('force', t.bool)], null,
      START_ERRORS,
      'vm-power-admin', 'Start the VM on the given host.'),
    msg('clean_shutdown', [vm], null, [...OP_ERRORS, ...REALISE_ERRORS], 'vm-operator',
      'Shut the VM down cooperatively; its VIFs are unplugged.'),
    msg('hard_shutdown', [vm], null, [...OP_ERRORS, ...REALISE_ERRORS], 'vm-operator',
      'Stop the VM at once; its VIFs are unplugged.'),
    msg('destroy', [p('self', t.ref('VM'))], null, OP_ERRORS, 'vm-admin',
      'Delete a halted VM together with its VIFs.'),
    msg('get_allowed_VIF_devices', [vm], t.set(t.string), [], 'read-only',
      'Device numbers 0..15 not used by the VM\'s VIFs.', { async: false }),
    msg('clean_reboot', [vm], null, [...OP_ERRORS, ...REALISE_ERRORS], 'vm-operator',
      'Reboot the VM cooperatively: a new domain (domid) on the same host, its VIFs plugged again.'),
    msg('hard_reboot', [vm], null, [...OP_ERRORS, ...REALISE_ERRORS], 'vm-operator',
      'Reboot the VM at once: a new domain (domid) on the same host, its VIFs plugged again.'),
    msg('pause', [vm], null, [...OP_ERRORS, ...REALISE_ERRORS], 'vm-operator', 'Pause a running VM; its VIFs stay attached.'),
    msg('unpause', [vm], null, [...OP_ERRORS, ...REALISE_ERRORS], 'vm-operator', 'Run a paused VM again.'),
    msg('suspend', [vm], null, [...OP_ERRORS, ...REALISE_ERRORS], 'vm-operator',
      'Suspend a running VM: its domain ends and its VIF devices leave the host; currently_attached is kept for the resume.'),
    msg('resume', [vm, p('start_paused', t.bool), p('force', t.bool)], null, START_ERRORS, 'vm-operator',
      'Resume a suspended VM on a host where its networks are usable, plugging the VIFs it had attached.'),
    msg('resume_on', [vm, p('host', t.ref('host')), p('start_paused', t.bool), p('force', t.bool)], null, START_ERRORS, 'vm-power-admin',
      'Resume a suspended VM on the given host.'),
    msg('clone', [vm, p('new_name', t.string)], t.ref('VM'), OP_ERRORS, 'vm-admin',
      'A new VM like this one, with a new mac_seed; its VIFs are copied with MACs derived from the new seed.'),
    msg('copy', [vm, p('new_name', t.string), p('sr', t.ref('SR'))], t.ref('VM'), OP_ERRORS, 'vm-admin',
      'As clone (there are no disks to copy); the SR, when it exists, must not be an ISO SR.'),
    msg('snapshot', [vm, p('new_name', t.string), p('ignore_vdis', t.set(t.ref('VDI')), undefined, [])], t.ref('VM'), OP_ERRORS, 'vm-power-admin',
      'A snapshot of the VM: a template with is_a_snapshot and snapshot_of; its VIFs keep their MACs.'),
    msg('pool_migrate', [vm, p('host', t.ref('host')), p('options', t.map(t.string, t.string))], null, MIGRATE_ERRORS, 'vm-power-admin',
      'Move a running VM to another host of the pool: its VIFs are plugged there, then leave the old host.'),
    msg('migrate_send', [vm, p('dest', t.map(t.string, t.string)), p('live', t.bool), p('vdi_map', t.map(t.ref('VDI'), t.ref('SR'))),
      p('vif_map', t.map(t.ref('VIF'), t.ref('network'))), p('options', t.map(t.string, t.string)), p('vgpu_map', t.map(t.ref('VGPU'), t.ref('GPU_group')))],
    t.ref('VM'), [...MIGRATE_ERRORS, 'NOT_IMPLEMENTED'], 'vm-power-admin',
      'Migrate to the host a host.migrate_receive answer names (within this pool; a VIF map is refused there, as in xapi).'),
    msg('assert_can_boot_here', [p('self', t.ref('VM')), p('host', t.ref('host'))], null, BOOT_ERRORS, 'read-only',
      'Fails with the first reason the VM cannot run on the host (liveness, enabled, networks).'),
    msg('get_possible_hosts', [vm], t.set(t.ref('host')), [], 'read-only', 'The live hosts the VM can boot on.'),
    msg('create_new_blob', [
      p('vm', t.ref('VM')), p('name', t.string), p('mime_type', t.string),
      p('public', t.bool, 'Whether the blob is readable without a session.', false),
    ], t.ref('blob'), ['MAP_DUPLICATE_KEY'], 'vm-power-admin', 'Create a blob and store it in blobs under the given name; its content is sent to /blob?ref=.'),
    msg('get_allowed_VBD_devices', [vm], t.set(t.string), [], 'read-only',
      'Disk numbers 0..254 not used by the VM\'s VBDs.', { async: false }),
  ],
};
