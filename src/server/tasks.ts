// Async.<Class>.<message>: the call returns a task ref at once and runs in the background;
// the task records the outcome the way real clients read it: `result` is the XML-RPC text of
// the value (even for JSON-RPC clients), `error_info` is [code, params…]. A finished task stays
// until its client destroys it. A task belongs to the user who made it (see mayAct).

import { ApiError } from '../common/api-error.js';
import type { Store } from '../db/store.js';
import { ROLES, type Value } from '../idl/meta.js';
import { DEFAULT_LIMITS } from '../rpc/limits.js';
import { encodeXmlRpcValue } from '../rpc/xmlrpc.js';
import type { LookupClass } from '../rpc/types.js';
import type { CallContext, Method } from './context.js';
import { compactNow } from './sessions.js';

/**
 * Live tasks one user may hold. task.create is open to every role, so without a bound a read-only
 * user could grow the table forever; at the bound the user's oldest finished task makes room, and
 * a user whose tasks are all pending gets TOO_MANY_PENDING_TASKS.
 */
export const MAX_TASKS_PER_USER = 1000;

/** xapi's permission to act on other users' tasks, and the weakest role that has it. */
const ANY_TASK = { permission: 'task.destroy/any', role: 'pool-operator' } as const;

export class TaskRunner {
  /** Each owner's tasks, oldest first (refs destroyed by any path are dropped lazily). */
  private readonly byOwner = new Map<string, string[]>();

  /**
   * `revealsSession` says whether a value holds a live session ref: task records are readable
   * by every user, so such a result is replaced by an error.
   */
  constructor(private readonly store: Store, private readonly lookup: LookupClass,
    private readonly revealsSession: (v: Value) => boolean = () => false) {}

  create(ctx: CallContext, label: string, description: string): string {
    const owner = ctx.session?.user ?? '';
    const mine = this.makeRoom(owner);
    const ref = this.store.transact((tx) => tx.create('task', {
      name_label: label, name_description: description, status: 'pending', progress: 0, created: compactNow(),
      resident_on: ctx.services.masterHost(), allowed_operations: ['cancel'], owner,
    }));
    mine.push(ref);
    return ref;
  }

  /** The owner's live tasks, with room for one more (see MAX_TASKS_PER_USER). */
  private makeRoom(owner: string): string[] {
    const mine = (this.byOwner.get(owner) ?? []).filter((ref) => this.store.find('task', ref));
    this.byOwner.set(owner, mine);
    if (mine.length < MAX_TASKS_PER_USER) return mine;
    const i = mine.findIndex((ref) => this.store.get('task', ref).status !== 'pending');
    if (i < 0) throw new ApiError('TOO_MANY_PENDING_TASKS', []);
    this.destroy(mine[i]!);
    mine.splice(i, 1);
    return mine;
  }

  /**
   * As xapi's TaskHelper.assert_op_valid: a task's own user may cancel, destroy and edit it from
   * any of their sessions; anyone else needs task.destroy/any (pool-operator and pool-admin).
   */
  mayAct(ctx: CallContext, task: string): void {
    const owner = this.store.get('task', task).owner;
    const s = ctx.session;
    if (s && (s.user === owner || ROLES.indexOf(s.role) >= ROLES.indexOf(ANY_TASK.role))) return;
    const roles = ROLES.slice(ROLES.indexOf(ANY_TASK.role)).reverse().join(', ');
    throw new ApiError('RBAC_PERMISSION_DENIED', [ANY_TASK.permission, `No permission in user session. (Roles with this permission: ${roles})`]);
  }

  /** Starts `m` in the background and returns its task's ref. */
  start(ctx: CallContext, m: Method, args: Record<string, Value>): string {
    const task = this.create(ctx, `Async.${m.name}`, '');
    const finish = (patch: Record<string, Value>) => {
      if (!this.store.find('task', task)) return; // destroyed meanwhile
      const cur = this.store.get('task', task);
      if (cur.status === 'cancelled') return;
      if (this.revealsSession(patch)) patch = { status: 'failure', error_info: ['INTERNAL_ERROR', 'the result would have revealed a session'] };
      this.store.transact((tx) => tx.update('task', task, { ...patch, progress: 1, finished: compactNow(), allowed_operations: [] }));
    };
    // Run after the reply is sent, so the client always gets the task ref first.
    setImmediate(() => {
      Promise.resolve()
        .then(() => m.run({ ...ctx, task }, args))
        .then(
          (value) => finish({ status: 'success', result: m.result ? encodeXmlRpcValue(value ?? '', m.result, this.lookup) : '' }),
          (e) => finish({ status: 'failure', error_info: ApiError.is(e) ? e.toDescription() : ['INTERNAL_ERROR', String((e as Error)?.message ?? e)] }),
        );
    });
    return task;
  }

  cancel(task: string): void {
    const t = this.store.get('task', task);
    if (t.status !== 'pending') throw new ApiError('OPERATION_NOT_ALLOWED', [`task ${task} is ${t.status}`]);
    this.store.transact((tx) => tx.update('task', task, { status: 'cancelled', finished: compactNow(), allowed_operations: [] }));
  }

  destroy(task: string): void {
    this.store.transact((tx) => { tx.get('task', task); tx.destroy('task', task); });
  }

  /**
   * task.set_status/_progress/_result/_error_info: a client reports work of its own through a task
   * (the owner check is the dispatcher's, as for every task message). As xapi, each sets its field
   * alone; xcpnet checks the values: a progress outside 0..1 and an error_info longer than one
   * string may be are INVALID_VALUE.
   */
  set(task: string, field: 'status' | 'progress' | 'result' | 'error_info', value: Value): void {
    if (field === 'progress' && !(typeof value === 'number' && value >= 0 && value <= 1)) throw new ApiError('INVALID_VALUE', ['value', String(value)]);
    if (field === 'error_info' && (value as string[]).reduce((n, s) => n + s.length, 0) > DEFAULT_LIMITS.maxString) {
      throw new ApiError('INVALID_VALUE', ['value', `error_info longer than ${DEFAULT_LIMITS.maxString} characters`]);
    }
    this.store.transact((tx) => { tx.get('task', task); tx.update('task', task, { [field]: value }); });
  }

  /** Sets the progress of a running task (Bond and VLAN operations report it). */
  progress(task: string | undefined, value: number): void {
    if (!task || !this.store.find('task', task)) return;
    this.store.transact((tx) => tx.update('task', task, { progress: value }));
  }
}
