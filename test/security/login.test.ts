// Password checks: scrypt off the event loop, unknown users cost what known ones do, failed
// logins are slowed per source and per user without locking the real owner out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scrypt } from 'node:crypto';
import { assertApiError } from '../support/master.js';
import { TestClock, call, login, newServer, raw } from './kit.js';

/** The real scrypt behind a counter, so a test can see which logins ran it. */
function countingHasher() {
  const h = {
    calls: 0,
    hash: (password: string, salt: string) => {
      h.calls++;
      return new Promise<Buffer>((resolve, reject) => scrypt(password, salt, 32, (e, k) => (e ? reject(e) : resolve(k))));
    },
  };
  return h;
}

/** A sleep that only records what it was asked for: tests never wait on time. */
function recordingSleep() {
  const asked: number[] = [];
  return { asked, sleep: (ms: number) => { asked.push(ms); return Promise.resolve(); } };
}

test('an unknown user goes through scrypt exactly like a known user with a wrong password', async () => {
  const hasher = countingHasher();
  const server = newServer({ hasher: hasher.hash });
  try {
    server.users.set('alice', 'right', 'read-only');
    await assertApiError(login(server, 'alice', 'wrong'), 'SESSION_AUTHENTICATION_FAILED', ['alice', 'Authentication failure']);
    assert.equal(hasher.calls, 1, 'a wrong password is checked with scrypt');
    await assertApiError(login(server, 'mallory', 'whatever'), 'SESSION_AUTHENTICATION_FAILED', ['mallory', 'Authentication failure']);
    assert.equal(hasher.calls, 2, 'an unknown user costs one scrypt too');
    await login(server, 'alice', 'right');
    assert.equal(hasher.calls, 3);
  } finally { server.close(); }
});

test('a login does not block the event loop: a cheap call finishes while scrypt runs', async () => {
  const server = newServer();
  try {
    server.users.set('alice', 'right', 'read-only');
    const s = await login(server, 'alice', 'right');
    const order: string[] = [];
    // A wrong password always takes the slow path.
    const slow = login(server, 'alice', 'wrong').catch(() => {}).then(() => order.push('login'));
    const cheap = call(server, s, 'pool.get_all').then(() => order.push('cheap'));
    await Promise.all([slow, cheap]);
    assert.deepEqual(order, ['cheap', 'login']);
  } finally { server.close(); }
});

test('per source: five free failures, then a doubling wait during which even the right password is refused unchecked', async () => {
  const clock = new TestClock();
  const hasher = countingHasher();
  const server = newServer({ clock: clock.now, hasher: hasher.hash, sleep: recordingSleep().sleep });
  try {
    server.users.set('alice', 'right', 'read-only');
    const attacker = '192.0.2.7';
    for (let i = 0; i < 5; i++) {
      await assertApiError(login(server, 'alice', `guess${i}`, { remote: attacker }), 'SESSION_AUTHENTICATION_FAILED', ['alice', 'Authentication failure']);
    }
    assert.equal(hasher.calls, 5);
    // Blocked for 1 s: refused without running scrypt, whatever the password.
    const tooMany = ['alice', 'Too many failed logins from this address; try again later'];
    await assertApiError(login(server, 'alice', 'right', { remote: attacker }), 'SESSION_AUTHENTICATION_FAILED', tooMany);
    await assertApiError(login(server, 'bob', 'x', { remote: attacker }), 'SESSION_AUTHENTICATION_FAILED', ['bob', tooMany[1]]);
    assert.equal(hasher.calls, 5, 'a refused attempt costs no scrypt');
    // Another address is not affected, and the owner logs in from it.
    const owner = await login(server, 'alice', 'right', { remote: '198.51.100.1' });
    assert.match(owner, /^OpaqueRef:/);
    clock.advance(999);
    await assertApiError(login(server, 'alice', 'guess5', { remote: attacker }), 'SESSION_AUTHENTICATION_FAILED', tooMany);
    clock.advance(1);
    await assertApiError(login(server, 'alice', 'guess5', { remote: attacker }), 'SESSION_AUTHENTICATION_FAILED', ['alice', 'Authentication failure']);
    // The wait doubles: 2 s now.
    clock.advance(1999);
    await assertApiError(login(server, 'alice', 'guess6', { remote: attacker }), 'SESSION_AUTHENTICATION_FAILED', tooMany);
    clock.advance(1);
    await assertApiError(login(server, 'alice', 'guess6', { remote: attacker }), 'SESSION_AUTHENTICATION_FAILED', ['alice', 'Authentication failure']);
    // It never exceeds 30 s, and a success from the address clears its record.
    for (let i = 0; i < 10; i++) {
      clock.advance(30_000);
      await assertApiError(login(server, 'alice', `more${i}`, { remote: attacker }), 'SESSION_AUTHENTICATION_FAILED', ['alice', 'Authentication failure']);
    }
    clock.advance(30_000);
    await login(server, 'alice', 'right', { remote: attacker });
    await assertApiError(login(server, 'alice', 'again', { remote: attacker }), 'SESSION_AUTHENTICATION_FAILED', ['alice', 'Authentication failure']);
  } finally { server.close(); }
});

test('concurrent guesses from one address count before they are checked', async () => {
  const hasher = countingHasher();
  const server = newServer({ clock: new TestClock().now, hasher: hasher.hash });
  try {
    server.users.set('alice', 'right', 'read-only');
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => login(server, 'alice', `g${i}`, { remote: '192.0.2.9' })));
    assert.ok(results.every((r) => r.status === 'rejected'));
    assert.equal(hasher.calls, 5, 'only the five free attempts reached scrypt');
  } finally { server.close(); }
});

test('IPv6 clients are limited per /64, IPv4-mapped addresses as IPv4', async () => {
  const server = newServer({ clock: new TestClock().now, hasher: countingHasher().hash, sleep: recordingSleep().sleep });
  try {
    for (let i = 0; i < 5; i++) await login(server, 'x', 'y', { remote: `2001:db8:1:2::${i + 1}` }).catch(() => {});
    await assertApiError(login(server, 'x', 'y', { remote: '2001:db8:1:2:ffff::9' }), 'SESSION_AUTHENTICATION_FAILED',
      ['x', 'Too many failed logins from this address; try again later']);
    await assertApiError(login(server, 'x', 'y', { remote: '2001:db8:1:3::1' }), 'SESSION_AUTHENTICATION_FAILED', ['x', 'Authentication failure']);
    for (let i = 0; i < 5; i++) await login(server, 'x', 'y', { remote: '::ffff:192.0.2.1' }).catch(() => {});
    await assertApiError(login(server, 'x', 'y', { remote: '192.0.2.1' }), 'SESSION_AUTHENTICATION_FAILED',
      ['x', 'Too many failed logins from this address; try again later']);
  } finally { server.close(); }
});

test('per user: after five failures a wrong password answers slowly, the right one at once', async () => {
  const clock = new TestClock();
  const slept = recordingSleep();
  const server = newServer({ clock: clock.now, hasher: countingHasher().hash, sleep: slept.sleep });
  try {
    server.users.set('alice', 'right', 'read-only');
    // Five different addresses, so no per-source limit applies.
    for (let i = 0; i < 5; i++) await assertApiError(login(server, 'alice', 'bad', { remote: `203.0.113.${i}` }), 'SESSION_AUTHENTICATION_FAILED');
    assert.deepEqual(slept.asked, []);
    await assertApiError(login(server, 'alice', 'bad', { remote: '203.0.113.50' }), 'SESSION_AUTHENTICATION_FAILED', ['alice', 'Authentication failure']);
    await assertApiError(login(server, 'alice', 'bad', { remote: '203.0.113.51' }), 'SESSION_AUTHENTICATION_FAILED', ['alice', 'Authentication failure']);
    assert.deepEqual(slept.asked, [1000, 2000]);
    await login(server, 'alice', 'right', { remote: '203.0.113.52' });
    assert.deepEqual(slept.asked, [1000, 2000], 'the right password is not delayed');
    // An unknown name is slowed the same way (no hint that it does not exist).
    for (let i = 0; i < 6; i++) await login(server, 'nobody', 'bad', { remote: `198.18.0.${i}` }).catch(() => {});
    assert.deepEqual(slept.asked, [1000, 2000, 1000]);
    // Fifteen quiet minutes and the user's record is forgotten.
    clock.advance(15 * 60_000);
    await assertApiError(login(server, 'alice', 'bad', { remote: '203.0.113.60' }), 'SESSION_AUTHENTICATION_FAILED');
    assert.deepEqual(slept.asked, [1000, 2000, 1000]);
  } finally { server.close(); }
});

test('the failure records stay bounded under a spray of names and addresses', async () => {
  // Every check fails: the hasher never matches, and costs nothing.
  const server = newServer({ clock: new TestClock().now, hasher: async () => Buffer.alloc(32), sleep: async () => {} });
  try {
    for (let i = 0; i < 20_000; i++) await login(server, `user${i}`, 'x', { remote: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }).catch(() => {});
    const { bySource, byUser } = (server.users as any).limits.sizes();
    assert.ok(bySource <= 10_000 && byUser <= 10_000, `tracked ${bySource} sources, ${byUser} users`);
  } finally { server.close(); }
});

test('a verified password is remembered only while it is right, and never for a wrong one', async () => {
  const hasher = countingHasher();
  const server = newServer({ hasher: hasher.hash });
  try {
    server.users.set('alice', 'right', 'read-only');
    await login(server, 'alice', 'right');
    await login(server, 'alice', 'right');
    assert.equal(hasher.calls, 1, 'the second login of the same credentials skips scrypt');
    await login(server, 'alice', 'wrong').catch(() => {});
    await login(server, 'alice', 'wrong').catch(() => {});
    assert.equal(hasher.calls, 3, 'wrong passwords always pay');
    server.users.set('alice', 'new', 'read-only');
    await assertApiError(login(server, 'alice', 'right'), 'SESSION_AUTHENTICATION_FAILED');
    await login(server, 'alice', 'new');
  } finally { server.close(); }
});

test('a login through the in-process path without an address is still limited per user', async () => {
  const slept = recordingSleep();
  const server = newServer({ clock: new TestClock().now, hasher: countingHasher().hash, sleep: slept.sleep });
  try {
    server.users.set('alice', 'right', 'read-only');
    for (let i = 0; i < 6; i++) await raw(server, 'session.login_with_password', ['alice', 'bad']).catch(() => {});
    assert.deepEqual(slept.asked, [1000]);
    await raw(server, 'session.login_with_password', ['alice', 'right']);
  } finally { server.close(); }
});
