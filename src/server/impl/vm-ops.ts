// Whether a VM operation may run now, in xapi's order of checks (xen-api:
// ocaml/xapi/xapi_vm_lifecycle.ml, check_operation_error): blocked by the user, power state,
// operations already in progress, template and snapshot exceptions, control domain. Pure, over
// the records; VM.allowed_operations is this check run for each operation xcpnet implements.

import { ApiError } from '../../common/api-error.js';
import type { Rec } from '../../idl/meta.js';
import type { VMRecord } from '../../idl/types.gen.js';
import type { Reader } from './common.js';

export type VmOp = VMRecord['allowed_operations'][number];
type Power = VMRecord['power_state'];

/** The operations xcpnet implements, in the enum's order (allowed_operations lists these only). */
export const IMPLEMENTED_OPS: VmOp[] = [
  'snapshot', 'clone', 'copy', 'start', 'start_on', 'pause', 'unpause', 'clean_shutdown', 'clean_reboot', 'hard_shutdown',
  'hard_reboot', 'suspend', 'resume', 'resume_on', 'pool_migrate', 'migrate_send', 'destroy',
];

/** xapi's allowed_power_states for the operations above. */
export function allowedPowerStates(vm: Pick<VMRecord, 'is_a_snapshot'>, op: VmOp): Power[] {
  switch (op) {
    case 'start': case 'start_on': return ['Halted'];
    case 'unpause': return ['Paused'];
    case 'resume': case 'resume_on': return ['Suspended'];
    case 'clean_reboot': case 'clean_shutdown': case 'pause': case 'pool_migrate': case 'suspend': return ['Running'];
    // xapi also allows a suspended VM when the pool enables cloning suspended VMs; xcpnet has no suspend image to clone.
    case 'clone': case 'copy': return vm.is_a_snapshot ? ['Halted', 'Suspended'] : ['Halted'];
    case 'destroy': return ['Halted', 'Suspended'];
    case 'hard_reboot': return ['Paused', 'Running'];
    case 'hard_shutdown': return ['Paused', 'Suspended', 'Running'];
    case 'migrate_send': return ['Halted', 'Suspended', 'Running'];
    case 'snapshot': return ['Halted', 'Paused', 'Suspended', 'Running'];
    default: return [];
  }
}

/** Which operations may run while others are in progress (xapi's is_allowed_concurrently). */
function allowedConcurrently(op: VmOp, current: VmOp[]): boolean {
  const group = (ops: VmOp[]) => ops.includes(op) && current.every((o) => ops.includes(o));
  if (group(['clone', 'copy', 'export']) || group(['snapshot', 'checkpoint'])) return true;
  if (op === 'hard_shutdown') return !current.includes('hard_shutdown');
  if (op === 'hard_reboot') return !current.some((o) => o === 'hard_shutdown' || o === 'hard_reboot');
  const pairs: [VmOp[], VmOp][] = [[['migrate_send'], 'clean_shutdown'], [['migrate_send'], 'clean_reboot']];
  return pairs.some(([state, next]) => next === op && JSON.stringify(state) === JSON.stringify(current));
}

const TEMPLATE_OPS: VmOp[] = ['clone', 'copy', 'export', 'metadata_export', 'provision', 'changing_dynamic_range', 'changing_static_range',
  'changing_memory_limits', 'changing_shadow_memory', 'changing_VCPUs', 'changing_NVRAM'];
const SNAPSHOT_OPS: VmOp[] = ['revert', 'clone', 'copy', 'export', 'destroy', 'hard_shutdown', 'metadata_export'];

/** The first reason `op` may not run on the VM now, as [code, ...params]; null when it may. */
export function vmOperationError(r: Reader, ref: string, op: VmOp): [string, ...string[]] | null {
  const vm = r.get('VM', ref);
  const blocked = (vm.blocked_operations ?? {})[op];
  if (typeof blocked === 'string') return ['OPERATION_BLOCKED', ref, blocked];
  const power = vm.power_state;
  const states = allowedPowerStates(vm, op);
  if (!states.includes(power)) return ['VM_BAD_POWER_STATE', ref, states.map((s) => s.toLowerCase()).join(', '), power.toLowerCase()];
  const current = Object.entries((vm.current_operations ?? {}) as Record<string, VmOp>);
  if (current.length > 0 && !allowedConcurrently(op, current.map(([, o]) => o))) {
    const [refs, ops] = current.length === 1 ? [current[0]![0], current[0]![1]]
      : [`{${current.map(([t]) => t).join(',')}}`, `{${current.map(([, o]) => o).join(',')}}`];
    return ['OTHER_OPERATION_IN_PROGRESS', 'VM', ref, ops, refs];
  }
  if (vm.is_a_template === true && vm.is_a_snapshot !== true) {
    const defaultTemplate = vm.is_default_template === true || ['1', 'true'].includes(String((vm.other_config ?? {}).default_template ?? '').toLowerCase());
    const ok = TEMPLATE_OPS.includes(op) || ((op === 'destroy' || op === 'migrate_send') && !defaultTemplate);
    if (!ok) return ['VM_IS_TEMPLATE', ref, op];
  }
  if (vm.is_a_snapshot === true && !SNAPSHOT_OPS.includes(op)) return ['VM_IS_SNAPSHOT', ref, op];
  if (vm.is_control_domain === true) {
    if (op === 'destroy') return ['OPERATION_NOT_ALLOWED', 'a host\'s control domain cannot be destroyed'];
    if (op !== 'start' && op !== 'start_on') return ['OPERATION_NOT_ALLOWED', `a control domain does not take ${op}`];
  }
  return null;
}

export function assertVmOperation(r: Reader, ref: string, op: VmOp): void {
  const err = vmOperationError(r, ref, op);
  if (err) throw new ApiError(err[0], err.slice(1));
}

/** VM.allowed_operations: each implemented operation whose check passes. */
export function vmAllowedOps(r: Reader, ref: string): VmOp[] {
  return IMPLEMENTED_OPS.filter((op) => vmOperationError(r, ref, op) === null);
}

/** current_operations with `task` added (op) or removed (op undefined). */
export function withOperation(vm: Pick<VMRecord, 'current_operations'>, task: string, op?: VmOp): Rec {
  const ops: Rec = { ...(vm.current_operations ?? {}) };
  if (op) ops[task] = op;
  else delete ops[task];
  return ops;
}
