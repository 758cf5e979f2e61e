// Tasks belong to the user who made them (xapi's TaskHelper.assert_op_valid): that user may
// cancel, destroy and edit them from any of their sessions; other users need the
// "task.destroy/any" permission, which pool-operator and pool-admin have.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootPool } from '../../src/server/boot.js';
import { MAX_TASKS_PER_USER } from '../../src/server/tasks.js';
import type { XapiServer } from '../../src/server/server.js';
import { assertApiError } from '../support/master.js';
import { call, login, newServer } from './kit.js';

let server: XapiServer;
const s: Record<string, string> = {};

before(async () => {
  server = newServer();
  bootPool(server, { hostName: 'h' });
  for (const [user, role] of [['root', 'pool-admin'], ['viewer', 'read-only'], ['viewer2', 'read-only'], ['op', 'pool-operator'], ['vmadmin', 'vm-admin']] as const) {
    server.users.set(user, 'pw', role);
    s[user] = await login(server, user, 'pw');
  }
  s.viewerAgain = await login(server, 'viewer', 'pw');
});
after(() => server.close());

const newTask = (who: string, label = 't') => call<string>(server, s[who]!, 'task.create', label, '');

async function denied(who: string, method: string, ...args: unknown[]): Promise<void> {
  const e = await assertApiError(call(server, s[who]!, method, ...args), 'RBAC_PERMISSION_DENIED');
  assert.equal(e.params[0], 'task.destroy/any');
  assert.match(e.params[1]!, /pool-admin, pool-operator/);
}

test('a read-only user cannot cancel, destroy or edit root\'s task', async () => {
  const task = await newTask('root');
  const before = server.store.get('task', task);
  await denied('viewer', 'task.destroy', task);
  await denied('viewer', 'task.cancel', task);
  await denied('viewer', 'task.set_other_config', task, { k: 'v' });
  await denied('viewer', 'task.add_to_other_config', task, 'k', 'v');
  await denied('viewer', 'task.remove_from_other_config', task, 'k');
  await denied('vmadmin', 'task.destroy', task);
  assert.equal(server.store.get('task', task), before, 'the task is untouched');
});

test('the owner acts on their task from any of their sessions; another read-only user cannot', async () => {
  const task = await newTask('viewer');
  await denied('viewer2', 'task.cancel', task);
  await call(server, s.viewer!, 'task.add_to_other_config', task, 'k', 'v');
  await call(server, s.viewerAgain!, 'task.cancel', task);
  assert.equal(server.store.get('task', task).status, 'cancelled');
  await denied('viewer2', 'task.destroy', task);
  await call(server, s.viewerAgain!, 'task.destroy', task);
  assert.equal(server.store.find('task', task), undefined);
});

test('pool-operator and pool-admin may act on any task', async () => {
  const a = await newTask('viewer');
  const b = await newTask('op');
  await call(server, s.op!, 'task.cancel', a);
  await call(server, s.op!, 'task.destroy', a);
  await call(server, s.root!, 'task.set_other_config', b, { by: 'root' });
  await call(server, s.root!, 'task.destroy', b);
});

test('an Async call\'s task belongs to its caller, and the call it runs is checked too', async () => {
  const finished = async (task: string) => {
    for (let i = 0; i < 100 && server.store.get('task', task).status === 'pending'; i++) await new Promise((r) => setImmediate(r));
    return server.store.get('task', task);
  };
  const mine = await newTask('viewer');
  const cancelling = await call<string>(server, s.viewer!, 'Async.task.cancel', mine);
  assert.equal((await finished(cancelling)).status, 'success');
  await denied('viewer2', 'task.destroy', cancelling);
  await call(server, s.viewer!, 'task.destroy', cancelling);
  const roots = await newTask('root');
  const refused = await call<string>(server, s.viewer!, 'Async.task.cancel', roots);
  const rec = await finished(refused);
  assert.deepEqual([rec.status, (rec.error_info as string[])[0], (rec.error_info as string[])[1]], ['failure', 'RBAC_PERMISSION_DENIED', 'task.destroy/any']);
  assert.equal(server.store.get('task', roots).status, 'pending');
});

test('the owner is not shown to clients, nor matched by a where expression', async () => {
  const task = await newTask('root', 'hidden-owner');
  const rec = await call<Record<string, unknown>>(server, s.viewer!, 'task.get_record', task);
  assert.deepEqual(Object.keys(rec).filter((k) => /owner|session/.test(k)), []);
  assert.ok(!JSON.stringify(rec).includes('root'));
  // Not a column: refused exactly as a column that does not exist at all.
  for (const column of ['owner', 'session', 'no_such_column']) {
    for (const value of ['root', s.root!]) {
      const reply = await server.handle({ method: 'task.get_all_where', params: [s.viewer!, `field "${column}" = "${value}"`] });
      assert.deepEqual(reply, { ok: false, error: ['INTERNAL_ERROR', 'missing field', column, ''] });
    }
  }
  await call(server, s.root!, 'task.destroy', task);
});

test('a user\'s tasks are bounded: the oldest finished one makes room, all pending is refused', async () => {
  const owned = () => [...server.store.all('task')].filter(([, t]) => t.owner === 'viewer2').map(([ref]) => ref);
  for (const ref of owned()) await call(server, s.viewer2!, 'task.destroy', ref);
  const made: string[] = [];
  for (let i = 0; i < MAX_TASKS_PER_USER; i++) made.push(await newTask('viewer2', `t${i}`));
  await assertApiError(newTask('viewer2'), 'TOO_MANY_PENDING_TASKS');
  assert.equal(owned().length, MAX_TASKS_PER_USER);
  // Another user is not affected by viewer2's bound.
  await call(server, s.viewer!, 'task.destroy', await newTask('viewer'));
  await call(server, s.viewer2!, 'task.cancel', made[5]);
  await call(server, s.viewer2!, 'task.cancel', made[7]);
  const next = await newTask('viewer2', 'room');
  assert.equal(server.store.find('task', made[5]!), undefined, 'the oldest finished task made room');
  assert.equal(server.store.get('task', made[7]!).status, 'cancelled');
  assert.equal(owned().length, MAX_TASKS_PER_USER);
  for (const ref of owned()) await call(server, s.viewer2!, 'task.destroy', ref);
  assert.equal(server.store.find('task', next), undefined);
});

test('task.set_status/_progress/_result/_error_info: the owner reports its own work; others may not; bad values change nothing', async () => {
  const task = await newTask('viewer', 'my work');
  await call(server, s.viewer!, 'task.set_progress', task, 0.25);
  await call(server, s.viewerAgain!, 'task.set_result', task, '<value><string>done</string></value>');
  await call(server, s.viewer!, 'task.set_status', task, 'success');
  let rec = await call<Record<string, unknown>>(server, s.viewer!, 'task.get_record', task);
  assert.deepEqual([rec.progress, rec.result, rec.status], [0.25, '<value><string>done</string></value>', 'success']);
  await call(server, s.viewer!, 'task.set_error_info', task, ['SOME_ERROR', 'a']);
  assert.deepEqual(await call(server, s.viewer!, 'task.get_error_info', task), ['SOME_ERROR', 'a']);
  await denied('viewer2', 'task.set_status', task, 'failure');
  await denied('viewer2', 'task.set_progress', task, 1);
  await denied('viewer2', 'task.set_result', task, 'x');
  await denied('viewer2', 'task.set_error_info', task, []);
  await call(server, s.op!, 'task.set_progress', task, 1);
  await assertApiError(call(server, s.viewer!, 'task.set_progress', task, 1.5), 'INVALID_VALUE', ['value', '1.5']);
  await assertApiError(call(server, s.viewer!, 'task.set_progress', task, -0.1), 'INVALID_VALUE');
  await assertApiError(call(server, s.viewer!, 'task.set_status', task, 'finished'), 'INVALID_VALUE');
  await assertApiError(call(server, s.viewer!, 'task.set_error_info', task, ['x'.repeat(40_000), 'y'.repeat(40_000)]), 'INVALID_VALUE');
  rec = await call(server, s.viewer!, 'task.get_record', task);
  assert.deepEqual([rec.progress, rec.status, rec.error_info], [1, 'success', ['SOME_ERROR', 'a']]);
  await assertApiError(call(server, s.viewer!, 'Async.task.set_status', task, 'pending'), 'Fault');
});
