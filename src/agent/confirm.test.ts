import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeHost } from '../backends/fake/host.js';
import { compileHost } from './desired.js';
import { confirmWithin, guardedPass, managementKey, ManagementGuard, type ConfirmHooks } from './confirm.js';
import { PoolBuilder } from './pool-builder.js';
import { reconcile } from './reconcile.js';
import { defined } from '../common/defined.js';

const HU = '11111111-2222-3333-4444-555555555555';

/** A clock that only moves when the code under test sleeps (or a probe takes time). */
function clock() {
  let t = 1_000_000;
  return { now: () => t, sleep: async (ms: number) => { t += ms; }, advance: (ms: number) => { t += ms; } };
}

function pool() {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const p0 = b.physical(h, 'eth0', b.network('xenbr0'), { mode: 'Static', IP: '192.0.2.51', netmask: '255.255.255.0', gateway: '192.0.2.1', management: true });
  const p1 = b.physical(h, 'eth1', b.network('xenbr1'), { attached: false });
  return { b, h, p0, p1 };
}

test('managementKey: changes with the management address, gateway and uplink; not with anything else', () => {
  const { b, h, p0, p1 } = pool();
  const mgmt = new Set([p0]);
  const k0 = managementKey(compileHost(b.records, h), mgmt);
  assert.notEqual(k0, '');
  b.set('PIF', p1, { currently_attached: true, mode: 'Static' });
  const vm = b.vm(h, 4);
  b.vif(vm, defined(b.records.PIF[p1], 'PIF').network as string, 0, '02:00:00:00:04:00');
  assert.equal(managementKey(compileHost(b.records, h), mgmt), k0, 'another network and a guest: same way in');
  b.set('PIF', p0, { IP: '192.0.2.52' });
  assert.notEqual(managementKey(compileHost(b.records, h), mgmt), k0, 'address');
  b.set('PIF', p0, { IP: '192.0.2.51', gateway: '192.0.2.254' });
  assert.notEqual(managementKey(compileHost(b.records, h), mgmt), k0, 'gateway');
  b.set('PIF', p0, { gateway: '192.0.2.1' });
  assert.equal(managementKey(compileHost(b.records, h), mgmt), k0);
  const { master } = b.bond(h, b.network('xapi1'), [p0, p1], 'active-backup', {}, { mode: 'Static', IP: '192.0.2.51', netmask: '255.255.255.0', gateway: '192.0.2.1', management: true });
  assert.notEqual(managementKey(compileHost(b.records, h), new Set([master])), k0, 'a bond over the management NIC');
  assert.equal(managementKey(compileHost(b.records, h), new Set()), '', 'no management PIF');
});

test('the guard: the first pass and unchanged management apply; a change is confirmed; a rolled-back change is held until the records change', () => {
  const { b, h } = pool();
  const cfg = compileHost(b.records, h);
  const g = new ManagementGuard();
  assert.equal(g.decide('A').kind, 'apply', 'nothing to fall back to yet');
  g.confirmed('A', cfg);
  assert.equal(g.decide('A').kind, 'apply');
  assert.equal(g.decide('').kind, 'apply', 'no management at all: nothing to confirm');
  const d = g.decide('B');
  assert.equal(d.kind, 'confirm');
  assert.equal(d.kind === 'confirm' && d.previous, cfg);
  g.rolledBack('B', 'cut off', ['OpaqueRef:p']);
  assert.deepEqual(g.decide('B'), { kind: 'hold', previous: cfg, reason: 'cut off', pifs: ['OpaqueRef:p'] });
  assert.equal(g.decide('A').kind, 'apply', 'the records were put back');
  assert.equal(g.decide('B').kind, 'confirm', 'asked again later: tried again');
});

test('confirmWithin: stops at the first success; gives up once the window is over, probing about once a second', async () => {
  const c = clock();
  let n = 0;
  const ok = await confirmWithin({ probe: async () => ++n === 3, now: c.now, sleep: c.sleep, windowMs: 20_000, intervalMs: 1000 });
  assert.deepEqual(ok, { ok: true, elapsedMs: 2000, probes: 3 });
  const c2 = clock();
  // Each failed probe takes 2 s (its own timeout), so they follow each other: 10 in the 20 s, none after.
  const bad = await confirmWithin({ probe: async () => { c2.advance(2000); return false; }, now: c2.now, sleep: c2.sleep, windowMs: 20_000, intervalMs: 1000 });
  assert.equal(bad.ok, false);
  assert.equal(bad.elapsedMs, 20_000);
  assert.equal(bad.probes, 10);
  const thrown = await confirmWithin({ probe: () => Promise.reject(new Error('EHOSTUNREACH')), now: clock().now, sleep: clock().sleep, windowMs: 0 });
  assert.equal(thrown.ok, false, 'a probe that throws is a failed probe');
});

/** Hooks over a fake host: the master answers while the management address is on xenbr0 (or `reachable` says so). */
function fakeHooks(fake: FakeHost, reachable?: (o: Awaited<ReturnType<FakeHost['observe']>>) => boolean) {
  const calls: string[] = [];
  const hooks: ConfirmHooks = {
    snapshot: async () => { calls.push('snapshot'); return 'before'; },
    restore: async (before, nics) => { calls.push(`restore ${String(before)} ${nics.join(',')}`); },
    probe: async () => {
      const o = await fake.observe();
      return reachable ? reachable(o) : o.bridges.find((x) => x.name === 'xenbr0')?.addrs.includes('192.0.2.51/24') ?? false;
    },
    target: () => 'the master',
  };
  return { hooks, calls };
}

test('guardedPass: a management change that cuts the host off is rolled back to the previous configuration within the window, and held', async () => {
  const { b, h, p0 } = pool();
  const fake = new FakeHost({ nics: 2, seed: HU });
  const { hooks, calls } = fakeHooks(fake);
  const guard = new ManagementGuard();
  const c = clock();
  const logs: string[] = [];
  let resets = 0;
  const pass = (cfg = compileHost(b.records, h)) => guardedPass({
    cfg, mgmtPifs: new Set([p0]), guard, hooks, run: (x) => reconcile(x, fake, undefined), log: (m) => logs.push(m), now: c.now, sleep: c.sleep,
    changed: () => { resets++; },
  });
  const first = await pass();
  assert.equal(first.rollback, undefined);
  assert.deepEqual(calls, [], 'the first pass needs no confirmation');
  // The management address changes to one that does not reach the master.
  b.set('PIF', p0, { IP: '203.0.113.51', gateway: '203.0.113.1' });
  const t0 = c.now();
  const r = await pass();
  assert.ok(r.rollback, 'rolled back');
  assert.deepEqual(r.rollback?.PIFs, [p0]);
  assert.match(r.rollback?.reason ?? '', /rolled back: the master could not be reached from the new configuration within 20 s/);
  assert.ok(c.now() - t0 <= 21_000, `bounded: ${c.now() - t0} ms`);
  assert.deepEqual((await fake.observe()).bridges.find((x) => x.name === 'xenbr0')?.addrs, ['192.0.2.51/24'], 'the previous address is back');
  assert.deepEqual((await fake.observe()).defaultRoute, { dev: 'xenbr0', via: '192.0.2.1' });
  assert.deepEqual(calls, ['snapshot', 'restore before '], 'no NIC was newly taken over: nothing to give back');
  assert.equal(resets, 1, 'connections made before the change are dropped');
  // While the records still ask for it, the change is not tried again.
  const held = await pass();
  assert.deepEqual(held.rollback, r.rollback);
  assert.deepEqual((await fake.observe()).bridges.find((x) => x.name === 'xenbr0')?.addrs, ['192.0.2.51/24']);
  // The master puts the records back: back to normal.
  b.set('PIF', p0, { IP: '192.0.2.51', gateway: '192.0.2.1' });
  assert.equal((await pass()).rollback, undefined);
  // A change that works is confirmed at once and kept.
  b.set('PIF', p0, { gateway: '192.0.2.254' });
  const ok = await pass();
  assert.equal(ok.rollback, undefined);
  assert.deepEqual((await fake.observe()).defaultRoute, { dev: 'xenbr0', via: '192.0.2.254' });
  assert.ok(logs.some((l) => /management change confirmed/.test(l)));
  assert.equal(resets, 2, 'and after a confirmed change');
});

test('guardedPass: management moved onto another NIC that cuts the host off: that NIC gets back what it held', async () => {
  const { b, h, p0, p1 } = pool();
  const fake = new FakeHost({ nics: 2, seed: HU });
  // The master is behind 192.0.2.1: reached while the default route goes there.
  const { hooks, calls } = fakeHooks(fake, (o) => o.defaultRoute?.via === '192.0.2.1');
  const guard = new ManagementGuard();
  const c = clock();
  const run = (mgmt: string) => guardedPass({
    cfg: compileHost(b.records, h), mgmtPifs: new Set([mgmt]), guard, hooks, run: (x) => reconcile(x, fake, undefined), log: () => {}, now: c.now, sleep: c.sleep,
  });
  await run(p0);
  b.set('PIF', p1, { currently_attached: true, ip_configuration_mode: 'Static', IP: '198.51.100.9', netmask: '255.255.255.0', gateway: '198.51.100.1', management: true });
  b.set('PIF', p0, { management: false });
  const r = await run(p1);
  assert.deepEqual(r.rollback?.PIFs, [p1]);
  assert.deepEqual(calls, ['snapshot', 'restore before eth1']);
  assert.equal((await fake.observe()).bridges.some((x) => x.name === 'xenbr1'), false, 'the new bridge is gone again');
  assert.deepEqual((await fake.observe()).defaultRoute, { dev: 'xenbr0', via: '192.0.2.1' });
});

test('without host hooks (the in-memory host) nothing is confirmed', async () => {
  const { b, h, p0 } = pool();
  const fake = new FakeHost({ nics: 2, seed: HU });
  const guard = new ManagementGuard();
  await guardedPass({ cfg: compileHost(b.records, h), mgmtPifs: new Set([p0]), guard, run: (x) => reconcile(x, fake, undefined), log: () => {} });
  b.set('PIF', p0, { IP: '203.0.113.51' });
  const r = await guardedPass({ cfg: compileHost(b.records, h), mgmtPifs: new Set([p0]), guard, run: (x) => reconcile(x, fake, undefined), log: () => {} });
  assert.equal(r.rollback, undefined);
  assert.deepEqual((await fake.observe()).bridges.find((x) => x.name === 'xenbr0')?.addrs, ['203.0.113.51/24']);
});
