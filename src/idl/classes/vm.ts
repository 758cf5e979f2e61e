// VM: a guest, here a network endpoint with VIFs, a power state and a resident host.
import type { ClassDef } from '../meta.js';
import { field, msg, nameFields, otherConfig, p, t, uuidField, NULL_REF, REALISE_ERRORS } from './_helpers.js';

export const vmPowerState = t.enumOf('vm_power_state', ['Halted', 'Paused', 'Running', 'Suspended']);
/** xapi's whole enum; xcpnet allows only start, start_on, clean/hard_shutdown and destroy. */
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
const START_ERRORS = ['VM_BAD_POWER_STATE', 'VM_REQUIRES_NETWORK', 'HOST_CANNOT_ATTACH_NETWORK', ...REALISE_ERRORS];

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
    msg('clean_shutdown', [vm], null, ['VM_BAD_POWER_STATE', ...REALISE_ERRORS], 'vm-operator',
      'Shut the VM down cooperatively; its VIFs are unplugged.'),
    msg('hard_shutdown', [vm], null, ['VM_BAD_POWER_STATE', ...REALISE_ERRORS], 'vm-operator',
      'Stop the VM at once; its VIFs are unplugged.'),
    msg('destroy', [p('self', t.ref('VM'))], null, ['VM_BAD_POWER_STATE'], 'vm-admin',
      'Delete a halted VM together with its VIFs.'),
    msg('get_allowed_VIF_devices', [vm], t.set(t.string), [], 'read-only',
      'Device numbers 0..15 not used by the VM\'s VIFs.', { async: false }),
  ],
};
