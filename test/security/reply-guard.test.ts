// The last line of defence: whatever a rule returns, no reply, error or task result carries a
// live session ref to anyone but its holder. Rules that misbehave on purpose stand in for a
// future bug.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../src/common/api-error.js';
import { bootPool } from '../../src/server/boot.js';
import type { ImplTable } from '../../src/server/context.js';
import type { XapiServer } from '../../src/server/server.js';
import { assertApiError } from '../support/master.js';
import { call, login, newServer } from './kit.js';

let server: XapiServer;
let root: string;
let viewer: string;
let dom0: string;

before(async () => {
  server = newServer({
    impls: [<ImplTable>{
      // Answers whatever session refs it is told to, as a buggy rule might.
      'VM.get_allowed_VIF_devices': (ctx) => (ctx.session!.user === 'viewer' ? [root] : [viewer]),
      'VM.get_by_name_label': (ctx, a) => [String(a.label)],
      'network.create': () => viewer,
      'network.destroy': () => { throw new ApiError('INTERNAL_ERROR', [`oops ${viewer}`]); },
    }],
    log: () => {},
  });
  bootPool(server, { hostName: 'h' });
  server.users.set('root', 'pw', 'pool-admin');
  server.users.set('viewer', 'pw', 'read-only');
  root = await login(server, 'root', 'pw');
  viewer = await login(server, 'viewer', 'pw');
  dom0 = [...server.store.all('VM')][0]![0];
});
after(() => server.close());

test('a reply holding another session\'s ref becomes INTERNAL_ERROR', async () => {
  await assertApiError(call(server, viewer, 'VM.get_allowed_VIF_devices', dom0), 'INTERNAL_ERROR', ['the reply would have revealed another session']);
  await assertApiError(call(server, root, 'VM.get_allowed_VIF_devices', dom0), 'INTERNAL_ERROR', ['the reply would have revealed another session']);
});

test('the caller\'s own ref, and a ref the caller sent, pass', async () => {
  assert.deepEqual(await call(server, viewer, 'VM.get_by_name_label', viewer), [viewer]);
  assert.deepEqual(await call(server, viewer, 'VM.get_by_name_label', `<value>${root}</value>`), [`<value>${root}</value>`]);
});

test('an error holding another session\'s ref is replaced too', async () => {
  await assertApiError(call(server, root, 'network.destroy', 'OpaqueRef:NULL'), 'INTERNAL_ERROR', ['the reply would have revealed another session']);
});

test('a task never records a session ref, not even its caller\'s', async () => {
  const task = await call<string>(server, viewer, 'Async.task.cancel', await call(server, viewer, 'task.create', 'x', ''));
  const leaky = await call<string>(server, root, 'Async.network.create', { name_label: 'n', other_config: {} });
  for (let i = 0; i < 100 && [task, leaky].some((t) => server.store.get('task', t).status === 'pending'); i++) await new Promise((r) => setImmediate(r));
  const rec = server.store.get('task', leaky);
  assert.deepEqual([rec.status, rec.error_info, rec.result], ['failure', ['INTERNAL_ERROR', 'the result would have revealed a session'], '']);
  assert.equal(server.store.get('task', task).status, 'success');
});
