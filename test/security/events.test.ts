// Session refs are credentials: no event stream (event.from, event.next, valid_ref_counts)
// carries sessions, whatever the subscription, and no lookup hands out another's ref.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootPool } from '../../src/server/boot.js';
import type { XapiServer } from '../../src/server/server.js';
import { assertApiError } from '../support/master.js';
import { call, login, newServer } from './kit.js';

let server: XapiServer;
let root: string;
let viewer: string;

before(async () => {
  server = newServer({ changeLogSize: 8 });
  bootPool(server, { hostName: 'h' });
  server.users.set('root', 'pw', 'pool-admin');
  server.users.set('viewer', 'pw', 'read-only');
  root = await login(server, 'root', 'pw');
  viewer = await login(server, 'viewer', 'pw');
  server.sessions.open('root', 'pool-admin', 'xcpnet-local-agent');
});
after(() => server.close());

type Batch = { events: Array<{ class: string; ref: string; operation: string }>; valid_ref_counts: Record<string, number>; token: string };
const from = (classes: string[], token = '', timeout = 0) => call<Batch>(server, viewer, 'event.from', classes, token, timeout);

test('event.from "*" and "session" list no session, and valid_ref_counts has no session entry', async () => {
  for (const classes of [['*'], ['session'], ['SESSION'], ['session', 'task'], [`session/${viewer}`], [`session/${root}`]]) {
    const b = await from(classes);
    assert.deepEqual(b.events.filter((e) => e.class === 'session'), [], `events for ${classes}`);
    assert.equal('session' in b.valid_ref_counts, false, `counts for ${classes}`);
  }
  const all = await from(['*']);
  assert.ok(all.events.some((e) => e.class === 'host'), 'other classes are still there');
  assert.equal(typeof all.valid_ref_counts.task, 'number');
});

test('logins and logouts after a token produce no event, and do not push other events out of the log', async () => {
  const { token } = await from(['*']);
  for (let i = 0; i < 20; i++) {
    const s = await login(server, 'viewer', 'pw');
    await call(server, s, 'session.logout');
  }
  const task = await call<string>(server, root, 'task.create', 'x', '');
  const b = await from(['*'], token);
  assert.deepEqual(b.events.map((e) => [e.class, e.operation, e.ref]), [['task', 'add', task]]);
  assert.deepEqual((await from(['session'], token)).events, []);
});

test('legacy event.next never returns a session', async () => {
  const s = await login(server, 'viewer', 'pw');
  await call(server, s, 'event.register', ['*']);
  await login(server, 'root', 'pw');
  const task = await call<string>(server, root, 'task.create', 'y', '');
  const evs = await call<Array<{ class: string; ref: string }>>(server, s, 'event.next');
  assert.deepEqual(evs.map((e) => [e.class, e.ref]), [['task', task]]);
});

test('a "class/ref" subscription only matches that class', async () => {
  const { token } = await from(['*']);
  const task = await call<string>(server, root, 'task.create', 'z', '');
  assert.deepEqual((await from([`PIF/${task}`], token)).events, []);
  assert.deepEqual((await from([`task/${task}`], token)).events.map((e) => e.ref), [task]);
});

test('session.get_by_uuid resolves only the caller\'s own session', async () => {
  const rootUuid = server.store.get('session', root).uuid as string;
  const ownUuid = server.store.get('session', viewer).uuid as string;
  await assertApiError(call(server, viewer, 'session.get_by_uuid', rootUuid), 'UUID_INVALID', ['session', rootUuid]);
  assert.equal(await call(server, viewer, 'session.get_by_uuid', ownUuid), viewer);
});

test('event.inject on a class without events is refused and writes nothing', async () => {
  const gen = server.store.generation;
  await assertApiError(call(server, viewer, 'event.inject', 'session', viewer), 'HANDLE_INVALID', ['session', viewer]);
  assert.equal(server.store.generation, gen);
});
