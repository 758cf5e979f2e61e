import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReconnectFsm } from './reconnect.js';

test('first attempt is immediate; failures back off exponentially up to the cap', () => {
  const r = new ReconnectFsm({ minBackoffMs: 100, maxBackoffMs: 1000, stableMs: 5000 });
  assert.equal(r.state, 'idle');
  assert.equal(r.timeToAttempt(0), undefined);
  r.enable(0);
  assert.equal(r.timeToAttempt(0), 0);
  const delays: number[] = [];
  let now = 0;
  for (let i = 0; i < 7; i++) {
    r.connecting(now);
    assert.equal(r.timeToAttempt(now), undefined, 'no attempt due while connecting');
    const d = r.disconnected(now);
    delays.push(d);
    assert.equal(r.timeToAttempt(now), d);
    assert.equal(r.timeToAttempt(now + d / 2), d / 2);
    now += d;
    assert.equal(r.timeToAttempt(now), 0);
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(r.failures, 7);
});

test('a connection that drops before it is stable keeps backing off', () => {
  const r = new ReconnectFsm({ minBackoffMs: 100, maxBackoffMs: 1000, stableMs: 5000 });
  r.enable(0);
  r.connecting(0);
  r.connected(0);
  assert.equal(r.disconnected(4999), 100);
  r.connecting(5099);
  r.connected(5099);
  assert.equal(r.disconnected(5100), 200);
});

test('a stable connection resets the backoff: the next reconnect is immediate', () => {
  const r = new ReconnectFsm({ minBackoffMs: 100, maxBackoffMs: 1000, stableMs: 5000 });
  r.enable(0);
  for (let i = 0; i < 5; i++) { r.connecting(0); r.disconnected(0); }
  assert.equal(r.failures, 5);
  r.connecting(10);
  r.connected(10);
  assert.equal(r.state, 'connected');
  assert.equal(r.disconnected(6000), 0);
  assert.equal(r.failures, 0);
  // and then the sequence starts again from the minimum
  r.connecting(6000);
  assert.equal(r.disconnected(6000), 100);
});

test('stop ends everything', () => {
  const r = new ReconnectFsm();
  r.enable(0);
  r.stop();
  assert.equal(r.state, 'stopped');
  assert.equal(r.timeToAttempt(0), undefined);
  assert.equal(r.disconnected(1), Infinity);
  assert.throws(() => r.connecting(2));
});

test('bad options are refused', () => {
  assert.throws(() => new ReconnectFsm({ minBackoffMs: 0 }), RangeError);
  assert.throws(() => new ReconnectFsm({ minBackoffMs: 10, maxBackoffMs: 5 }), RangeError);
});
