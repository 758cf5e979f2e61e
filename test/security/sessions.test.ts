// Sessions are bounded: an idle session expires after 24 h, and each user (root: each
// originator) keeps at most 500 live sessions, the least recently used going first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertApiError } from '../support/master.js';
import { TestClock, call, login, newServer } from './kit.js';
import type { XapiServer } from '../../src/server/server.js';

const HOUR = 3600_000;
const CAP = 500;

function sessionsOf(server: XapiServer, user: string, originator?: string): string[] {
  return [...server.store.all('session')]
    .filter(([, s]) => s.auth_user_name === user && (originator === undefined || s.originator === originator))
    .map(([ref]) => ref);
}

test('a session unused for 24 hours is SESSION_INVALID; using it keeps it alive', async () => {
  const clock = new TestClock();
  const server = newServer({ clock: clock.now });
  try {
    server.users.set('alice', 'pw', 'read-only');
    const s = await login(server, 'alice', 'pw');
    clock.advance(24 * HOUR - 1);
    await call(server, s, 'pool.get_all');
    clock.advance(24 * HOUR);
    await call(server, s, 'pool.get_all');
    clock.advance(24 * HOUR + 1);
    await assertApiError(call(server, s, 'pool.get_all'), 'SESSION_INVALID', [s]);
    assert.deepEqual(sessionsOf(server, 'alice'), [], 'the expired session is gone from the store');
  } finally { server.close(); }
});

test('idle sessions are swept at the next login, not only when they are used', async () => {
  const clock = new TestClock();
  const server = newServer({ clock: clock.now });
  try {
    server.users.set('alice', 'pw', 'read-only');
    server.users.set('bob', 'pw', 'read-only');
    for (let i = 0; i < 3; i++) await login(server, 'alice', 'pw');
    clock.advance(24 * HOUR + 1);
    await login(server, 'bob', 'pw');
    assert.deepEqual(sessionsOf(server, 'alice'), []);
  } finally { server.close(); }
});

test('last_active is kept, and written to the record at most every ten minutes', async () => {
  const clock = new TestClock(Date.UTC(2024, 0, 1, 12, 0, 0));
  const server = newServer({ clock: clock.now });
  try {
    server.users.set('alice', 'pw', 'read-only');
    const s = await login(server, 'alice', 'pw');
    assert.equal(await call(server, s, 'session.get_last_active', s), '20240101T12:00:00Z');
    clock.advance(5 * 60_000);
    const gen = server.store.generation;
    await call(server, s, 'pool.get_all');
    assert.equal(server.store.generation, gen, 'a call within ten minutes writes nothing');
    assert.equal(await call(server, s, 'session.get_last_active', s), '20240101T12:00:00Z');
    clock.advance(6 * 60_000);
    await call(server, s, 'pool.get_all');
    assert.equal(await call(server, s, 'session.get_last_active', s), '20240101T12:11:00Z');
  } finally { server.close(); }
});

test('the 501st session of a user evicts the least recently used one', async () => {
  const clock = new TestClock();
  const server = newServer({ clock: clock.now });
  try {
    server.users.set('alice', 'pw', 'read-only');
    server.users.set('bob', 'pw', 'read-only');
    const bobs = await login(server, 'bob', 'pw');
    const refs: string[] = [];
    for (let i = 0; i < CAP; i++) {
      clock.advance(1);
      refs.push(await login(server, 'alice', 'pw'));
    }
    // The first is used again, so the second is now the least recently used.
    clock.advance(1);
    await call(server, refs[0]!, 'pool.get_all');
    clock.advance(1);
    const newest = await login(server, 'alice', 'pw');
    await assertApiError(call(server, refs[1]!, 'pool.get_all'), 'SESSION_INVALID', [refs[1]]);
    await call(server, refs[0]!, 'pool.get_all');
    await call(server, refs[2]!, 'pool.get_all');
    await call(server, newest, 'pool.get_all');
    await call(server, bobs, 'pool.get_all');
    assert.equal(sessionsOf(server, 'alice').length, CAP);
  } finally { server.close(); }
});

test('20,000 logins without logout keep at most 500 sessions for that user', async () => {
  const server = newServer({ clock: new TestClock().now });
  try {
    server.users.set('alice', 'pw', 'read-only');
    let last = '';
    for (let i = 0; i < 20_000; i++) last = await login(server, 'alice', 'pw');
    assert.equal(sessionsOf(server, 'alice').length, CAP);
    assert.equal([...server.store.all('session')].length, CAP);
    await call(server, last, 'pool.get_all');
  } finally { server.close(); }
});

test('root sessions are capped per originator, so CLI logins never evict the local agent', async () => {
  const clock = new TestClock();
  const server = newServer({ clock: clock.now });
  try {
    server.users.set('root', 'pw', 'pool-admin');
    const agent = server.sessions.open('root', 'pool-admin', 'xcpnet-local-agent');
    for (let i = 0; i < CAP + 100; i++) {
      clock.advance(1);
      await login(server, 'root', 'pw', { originator: 'cli' });
    }
    await call(server, agent, 'pool.get_all');
    assert.equal(sessionsOf(server, 'root', 'cli').length, CAP);
  } finally { server.close(); }
});

test('logout still ends the session at once', async () => {
  const server = newServer({ clock: new TestClock().now });
  try {
    server.users.set('alice', 'pw', 'read-only');
    const s = await login(server, 'alice', 'pw');
    await call(server, s, 'session.logout');
    await assertApiError(call(server, s, 'pool.get_all'), 'SESSION_INVALID', [s]);
    assert.deepEqual(sessionsOf(server, 'alice'), []);
  } finally { server.close(); }
});
