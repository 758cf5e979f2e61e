// task: progress and outcome of an asynchronous call (not persisted).
import type { ClassDef } from '../meta.js';
import { field, msg, otherConfig, p, t, uuidField, NULL_REF } from './_helpers.js';

export const taskStatusType = t.enumOf('task_status_type', ['pending', 'success', 'failure', 'cancelling', 'cancelled']);
export const taskAllowedOperations = t.enumOf('task_allowed_operations', ['cancel', 'destroy']);

export const taskClass: ClassDef = {
  name: 'task',
  doc: 'A long-running operation started through Async.* or task.create.',
  persistent: false,
  events: true,
  nameLabel: true,
  writeRole: 'read-only',
  fields: [
    uuidField(),
    field('name_label', t.string, 'DynamicRO', 'Name of the task (the method, for Async calls).', { default: '' }),
    field('name_description', t.string, 'DynamicRO', 'Description of the task.', { default: '' }),
    field('allowed_operations', t.set(taskAllowedOperations), 'DynamicRO', 'Operations allowed now.', { default: [] }),
    field('current_operations', t.map(t.string, taskAllowedOperations), 'DynamicRO', 'Operations in progress.', { default: {} }),
    field('created', t.datetime, 'DynamicRO', 'Creation time.', { default: '19700101T00:00:00Z' }),
    field('finished', t.datetime, 'DynamicRO', 'Completion time (epoch while pending).', { default: '19700101T00:00:00Z' }),
    field('status', taskStatusType, 'DynamicRO', 'Current state.', { default: 'pending' }),
    // xapi keeps the owning session and compares its user; the user itself is kept here, so no
    // session ref is ever stored in a record.
    field('owner', t.string, 'DynamicRO', 'User who made the task; only they (or pool-operator and up) may act on it.',
      { default: '', internal: true }),
    field('resident_on', t.ref('host'), 'DynamicRO', 'Host the task runs on.', { default: NULL_REF }),
    field('progress', t.float, 'DynamicRO', 'Completion fraction, 0 to 1.', { default: 0 }),
    field('type', t.string, 'DynamicRO', 'Type of the result, if known.', { default: '' }),
    field('result', t.string, 'DynamicRO', 'Result as the XML-RPC text of the value.', { default: '' }),
    field('error_info', t.set(t.string), 'DynamicRO', 'On failure: error code then its parameters.', { default: [] }),
    otherConfig(),
    field('subtask_of', t.ref('task'), 'DynamicRO', 'Parent task, if any.', { default: NULL_REF }),
    field('subtasks', t.set(t.ref('task')), 'DynamicRO', 'Child tasks.', { default: [] }),
    field('backtrace', t.string, 'DynamicRO', 'Server-side trace of a failure.', { default: '()' }),
  ],
  messages: [
    msg('create', [p('label', t.string), p('description', t.string)], t.ref('task'), ['TOO_MANY_PENDING_TASKS'], 'read-only',
      'Create a pending task owned by the caller.', { async: false }),
    msg('destroy', [p('self', t.ref('task'))], null, ['RBAC_PERMISSION_DENIED'], 'read-only', 'Delete a task.', { async: false }),
    msg('cancel', [p('task', t.ref('task'))], null, ['RBAC_PERMISSION_DENIED', 'OPERATION_NOT_ALLOWED'], 'read-only',
      'Ask a running task to stop; it ends as cancelled if it can.'),
    // A client that runs work of its own reports it through a task it made (task.create).
    msg('set_status', [p('self', t.ref('task')), p('value', taskStatusType)], null, ['RBAC_PERMISSION_DENIED'], 'read-only',
      'Set the task\'s status.', { async: false }),
    msg('set_progress', [p('self', t.ref('task')), p('value', t.float)], null, ['RBAC_PERMISSION_DENIED', 'INVALID_VALUE'], 'read-only',
      'Set the task\'s progress, 0 to 1.', { async: false }),
    msg('set_result', [p('self', t.ref('task')), p('value', t.string)], null, ['RBAC_PERMISSION_DENIED'], 'read-only',
      'Set the task\'s result (the XML-RPC text of a value).', { async: false }),
    msg('set_error_info', [p('self', t.ref('task')), p('value', t.set(t.string))], null, ['RBAC_PERMISSION_DENIED', 'INVALID_VALUE'], 'read-only',
      'Set the task\'s error: code then parameters.', { async: false }),
  ],
};
