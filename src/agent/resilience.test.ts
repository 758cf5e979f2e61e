// The agent survives its master (restarted: sessions forgotten; unreachable, at start too), itself
// (a local copy of the last configuration) and Open vSwitch going away. A scripted master with
// sessions, the fake host, an injected clock: nothing here waits on the wall clock for a condition.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApiError } from '../common/api-error.js';
import type { Rec } from '../idl/meta.js';
import { FakeGuests } from '../backends/fake/guests.js';
import { FakeHost } from '../backends/fake/host.js';
import { FileHostCache } from './host-cache.js';
import { isDesired, retryDelay, runAgent, type AgentClock, type AgentReport } from './index.js';
import { MasterLink, type MasterSession } from './master-link.js';
import { MembershipLink } from './membership.js';
import { PoolBuilder } from './pool-builder.js';
import { POOL_CLASSES, type PoolRecords } from './records.js';

const HU = '11111111-2222-3333-4444-555555555555';
const tok = (g: number) => `${String(g).padStart(20, '0')},${'0'.repeat(20)}`;
/** Lets timers and I/O run: a loop whose sleeps are instant must not starve the event loop. */
const yieldMacrotask = () => new Promise<void>((r) => setImmediate(r));

/**
 * A master with sessions: login gives a session, restart() forgets them all (as a restarted
 * master does) and fails the pending long polls; while `down`, nobody can log in or call.
 */
class SessionMaster {
  gen = 1;
  down = false;
  logins = 0;
  private epoch = 0;
  private sessions = new Set<string>();
  private modified = new Map<string, { cls: string; gen: number }>();
  private wake = new Set<() => void>();
  reports: { gen: number; state: AgentReport }[] = [];
  private reportWaiters = new Set<() => void>();
  constructor(readonly records: PoolRecords, readonly hostUuid: string) {}

  touch(cls: keyof PoolRecords, ref: string, fields: Rec = {}): void {
    const rec = this.records[cls][ref];
    assert.ok(rec, `${cls} ${ref}`);
    Object.assign(rec, fields);
    this.modified.set(ref, { cls, gen: ++this.gen });
    for (const w of this.wake) w();
  }

  /** Records a deletion (the record is already gone from `records`). */
  deleted(ref: string, cls: keyof PoolRecords): void {
    this.gone.set(ref, { cls, gen: ++this.gen });
    for (const w of this.wake) w();
  }
  private gone = new Map<string, { cls: string; gen: number }>();

  restart(): void {
    this.sessions.clear();
    this.epoch++;
    for (const w of this.wake) w();
  }

  /** Resolves at the next report that satisfies `pred` (or one already received). */
  async reportWhere(pred: (r: { gen: number; state: AgentReport }) => boolean, what: string): Promise<{ gen: number; state: AgentReport }> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const r = this.reports.find(pred);
      if (r) return r;
      if (Date.now() > deadline) assert.fail(`no report: ${what}; reports: ${JSON.stringify(this.reports.map((x) => x.gen))}`);
      await new Promise<void>((res) => { const t = setTimeout(res, 50); this.reportWaiters.add(() => { clearTimeout(t); res(); }); });
    }
  }

  login = async (): Promise<MasterSession> => {
    if (this.down) throw new Error('cannot reach the XenAPI server (unix:/test): connect ECONNREFUSED');
    const ref = `OpaqueRef:session-${++this.logins}`;
    this.sessions.add(ref);
    return { call: (method, ...params) => this.call(ref, method, ...params), close: async () => { this.sessions.delete(ref); } };
  };

  private async call(session: string, method: string, ...params: unknown[]): Promise<unknown> {
    if (this.down) throw new Error('cannot reach the XenAPI server (unix:/test): connect ECONNREFUSED');
    if (!this.sessions.has(session)) throw new ApiError('SESSION_INVALID', [session]);
    if (method === 'host.get_by_uuid') {
      const found = Object.entries(this.records.host).find(([, h]) => h.uuid === params[0]);
      if (!found) throw new ApiError('UUID_INVALID', ['host', String(params[0])]);
      return found[0];
    }
    if (method === 'host.report_network_state') {
      this.reports.push({ gen: params[1] as number, state: params[2] as AgentReport });
      for (const w of this.reportWaiters) w();
      this.reportWaiters.clear();
      return '';
    }
    if (method !== 'event.from') throw new Error(`unexpected ${method}`);
    const token = params[1] as string;
    if (token === '') {
      const events = POOL_CLASSES.flatMap((c) => Object.entries(this.records[c]).map(([ref, snapshot]) =>
        ({ class: c.toLowerCase(), operation: 'add', ref, snapshot: structuredClone(snapshot) })));
      return { events, token: tok(this.gen), valid_ref_counts: {} };
    }
    const from = Number(token.split(',')[0]);
    const epoch = this.epoch;
    if (this.gen <= from) {
      await new Promise<void>((res) => {
        const done = () => { clearTimeout(t); this.wake.delete(done); res(); };
        const t = setTimeout(done, Number(params[2]) * 1000);
        t.unref();
        this.wake.add(done);
      });
    }
    // A long poll cut by a restart fails as a dropped connection does.
    if (this.epoch !== epoch) throw new Error('event.from: socket hang up');
    const events = [...this.modified].filter(([, m]) => m.gen > from).map(([ref, m]) => ({
      class: m.cls.toLowerCase(), operation: 'mod', ref, snapshot: structuredClone(this.records[m.cls as keyof PoolRecords][ref]),
    })).concat([...this.gone].filter(([, m]) => m.gen > from).map(([ref, m]) => ({ class: m.cls.toLowerCase(), operation: 'del', ref, snapshot: undefined as never })));
    return { events, token: tok(this.gen), valid_ref_counts: {} };
  }
}

/** A clock whose sleeps take no time: they are recorded, and only yield to the event loop. */
function instantClock(): AgentClock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return { slept, now: () => t, sleep: async (ms) => { slept.push(ms); t += ms; await yieldMacrotask(); } };
}

async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function pool() {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const n0 = b.network('xenbr0');
  const p0 = b.physical(h, 'eth0', n0, { mode: 'Static', IP: '10.0.0.2', netmask: '255.255.255.0', gateway: '10.0.0.1', management: true, MAC: '02:00:00:00:00:01' });
  const vm = b.vm(h, 3);
  const vif = b.vif(vm, n0, 0, '02:00:00:00:03:00');
  return { b, h, n0, p0, vm, vif };
}

/** Each bridge's identity and guest ports: a bridge remade gets a new id. */
const portUuids = async (fake: FakeHost) => JSON.stringify((await fake.observe()).bridges.map((b) => [b.name, b.id, b.vifs]).sort());
const bridgeOf = async (fake: FakeHost, name: string) => (await fake.observe()).bridges.find((b) => b.name === name);

test('retryDelay: the first retry at once, then doubling from 500 ms, never more than 5 s', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50, 5000].map((n) => retryDelay(n)), [0, 500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
  assert.deepEqual([1, 2, 3].map((n) => retryDelay(n, { minMs: 10, maxMs: 15 })), [0, 10, 15]);
});

test('a restarted master (every session forgotten): the agent logs in again, resyncs, reports; the host is not touched', async () => {
  const { b, h, p0, vif } = pool();
  const master = new SessionMaster(b.records, HU);
  const link = new MasterLink(master.login);
  const fake = new FakeHost({ nics: 2, seed: HU });
  const clock = instantClock();
  const agent = await runAgent({ client: link, hostUuid: HU, backend: fake, guests: new FakeGuests(fake), eventTimeoutS: 5, debounceMs: 1, clock });
  try {
    await master.reportWhere((r) => r.gen === 1, 'the first report');
    assert.equal(agent.hostRef, h);
    const tx = fake.writes;
    const uuids = await portUuids(fake);

    master.restart();
    master.touch('PIF', p0); // a write on the restarted master: the agent must see it through a new session
    const g = master.gen;
    const r = await master.reportWhere((x) => x.gen >= g, 'a report to the restarted master');
    assert.equal(link.logins, 2, 'logged in once more');
    assert.equal(master.logins, 2);
    assert.deepEqual(r.state.errors, {});
    assert.ok(vif in (r.state.PIFs as object) === false && p0 in (r.state.PIFs as object));
    assert.equal(fake.writes, tx, 'no switch write: the host was never touched');
    assert.equal(await portUuids(fake), uuids);
  } finally {
    await agent.stop();
    await link.close();
  }
});

test('a master unreachable at start: the local copy is realised at once, retries back off within bounds, the master gets its report', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-agent-cache-'));
  try {
    const { b } = pool();
    const master = new SessionMaster(b.records, HU);
    const cacheDir = join(dir, 'agent');
    // A first life: the agent realises the records and keeps a copy.
    const first = new FakeHost({ nics: 2, seed: HU });
    const cache1 = new FileHostCache(cacheDir, HU, isDesired);
    const link1 = new MasterLink(master.login);
    const a1 = await runAgent({ client: link1, hostUuid: HU, backend: first, guests: new FakeGuests(first), debounceMs: 1, clock: instantClock(), cache: cache1 });
    await master.reportWhere(() => true, 'the first life reports');
    await until(() => cache1.load() !== undefined, 'the local copy saved');
    await a1.stop();
    await link1.close();
    assert.equal(statSync(cacheDir).mode & 0o777, 0o700);
    assert.equal(statSync(cache1.file).mode & 0o777, 0o600);

    // The host reboots (a fresh switch and kernel: nothing configured) while the master is down.
    master.down = true;
    const rebooted = new FakeHost({ nics: 2, seed: HU });
    const guests = new FakeGuests(rebooted);
    const clock = instantClock();
    const link = new MasterLink(master.login);
    const reports = master.reports.length;
    const agent = await runAgent({ client: link, hostUuid: HU, backend: rebooted, guests, debounceMs: 0, clock, cache: new FileHostCache(cacheDir, HU, isDesired) });
    try {
      await until(async () => (await bridgeOf(rebooted, 'xenbr0'))?.addrs.includes('10.0.0.2/24') === true, 'management up from the local copy');
      assert.deepEqual((await rebooted.observe()).defaultRoute, { dev: 'xenbr0', via: '10.0.0.1' });
      assert.deepEqual((await bridgeOf(rebooted, 'xenbr0'))?.vifs, ['vif3.0'], 'the guest port too');
      await until(() => clock.slept.length >= 8, 'eight retries');
      assert.equal(master.reports.length, reports, 'nobody to report to');
      assert.deepEqual(clock.slept.slice(0, 8), [0, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
      assert.ok(clock.slept.every((ms) => ms <= 5000));

      const tx = rebooted.writes;
      master.down = false;
      const r = await master.reportWhere((x, i = master.reports.indexOf(x)) => i >= reports, 'a report once the master is back');
      assert.deepEqual(r.state.errors, {});
      assert.equal(rebooted.writes, tx, 'the records say what the copy said: nothing to change');
    } finally {
      await agent.stop();
      await link.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the local copy: 0600 in a 0700 directory, replaced whole; another host\'s, another format or a damaged file is ignored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-agent-cache-'));
  try {
    const logs: string[] = [];
    const cache = new FileHostCache(join(dir, 'a', 'b'), HU, isDesired, (m) => logs.push(m));
    assert.equal(cache.load(), undefined);
    assert.equal(logs.length, 0, 'no copy yet is no news');
    const config = { doc: { host: HU, bridges: [], vifs: [], addresses: [] }, vms: [], pifs: [], bonds: [], errors: {} };
    cache.save({ hostUuid: HU, hostRef: 'OpaqueRef:h', generation: 7, config });
    assert.equal(statSync(join(dir, 'a', 'b')).mode & 0o777, 0o700);
    assert.equal(statSync(cache.file).mode & 0o777, 0o600);
    assert.deepEqual(cache.load()?.config, config);
    assert.equal(cache.load()?.generation, 7);
    cache.save({ hostUuid: HU, hostRef: 'OpaqueRef:h', generation: 8, config });
    assert.equal(cache.load()?.generation, 8);

    const other = new FileHostCache(join(dir, 'a', 'b'), '99999999-2222-3333-4444-555555555555', isDesired, (m) => logs.push(m));
    assert.equal(other.load(), undefined);
    assert.match(logs.pop()!, /not 99999999/);
    const saved = JSON.parse(readFileSync(cache.file, 'utf8')) as Rec;
    for (const [bad, why] of [
      [JSON.stringify({ ...saved, format: 2 }), /format 2, not 1/],
      [JSON.stringify({ ...saved, config: { ...config, pifs: 'x' } }), /not of the expected shape/],
      ['{"format":1,', /not JSON/],
      ['null', /not an object/],
    ] as const) {
      writeFileSync(cache.file, bad);
      assert.equal(cache.load(), undefined, bad);
      assert.match(logs.pop()!, why);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Open vSwitch down: nothing is realised, the host\'s PIFs and VIFs are reported unrealised; back: everything re-checked, only what was lost remade', async () => {
  const { b, h, n0, p0, vif } = pool();
  const master = new SessionMaster(b.records, HU);
  const link = new MasterLink(master.login);
  const fake = new FakeHost({ nics: 2, seed: HU });
  let listener: ((up: boolean) => void) | undefined;
  const health = { up: true, reason: '', onChange: (cb: (up: boolean) => void) => { listener = cb; return () => { listener = undefined; }; } };
  const agent = await runAgent({ client: link, hostRef: h, backend: fake, guests: new FakeGuests(fake), eventTimeoutS: 5, debounceMs: 1, clock: instantClock(), health });
  try {
    const first = await master.reportWhere(() => true, 'the first report');
    const realisedGen = first.gen;
    const idBefore = (await bridgeOf(fake, 'xenbr0'))!.id;
    // ovs-vswitchd dies: the userspace datapath and its ports go with it (here: one port lost).
    Object.assign(health, { up: false, reason: 'ovs-vswitchd is not running' });
    fake.removePortByHand('vif3.0');
    const tx = fake.writes;
    listener!(false);
    const down = await master.reportWhere((r) => r.state.unrealised !== undefined, 'the unrealised report');
    assert.deepEqual(down.state.unrealised, { [p0]: 'Open vSwitch: ovs-vswitchd is not running', [vif]: 'Open vSwitch: ovs-vswitchd is not running' });
    assert.equal(down.gen, realisedGen, 'no newer generation is claimed');
    // A change meanwhile (a second VIF) is not realised either: it is reported unrealised.
    const vif2 = b.vif(b.vm(h, 4), n0, 0, '02:00:00:00:04:00');
    master.touch('VIF', vif2);
    master.touch("VM", String(b.records.VIF[vif2]!.VM));
    await master.reportWhere((r) => r.state.unrealised?.[vif2] !== undefined, 'the new VIF reported unrealised');
    assert.equal(fake.writes, tx, 'nothing written while the switch is down');
    assert.deepEqual((await bridgeOf(fake, 'xenbr0'))!.vifs, []);

    // It is back: a full re-check remakes the lost port and the new one, and nothing else.
    Object.assign(health, { up: true, reason: '' });
    listener!(true);
    const back = await master.reportWhere((r) => r.gen >= master.gen && r.state.unrealised === undefined, 'a report after the switch is back');
    assert.deepEqual(back.state.errors, {});
    const br = (await bridgeOf(fake, 'xenbr0'))!;
    assert.deepEqual([...br.vifs].sort(), ['vif3.0', 'vif4.0'], 'the lost port and the new one (in whatever order the fake lists them)');
    assert.equal(br.id, idBefore, 'the bridge kept its identity: not remade');
  } finally {
    await agent.stop();
    await link.close();
  }
});

test('the host re-created under a new ref (a restored database): the agent looks itself up again and tears nothing down', async () => {
  const { b, h, p0 } = pool();
  const master = new SessionMaster(b.records, HU);
  const link = new MasterLink(master.login);
  const fake = new FakeHost({ nics: 2, seed: HU });
  const agent = await runAgent({ client: link, hostUuid: HU, backend: fake, guests: new FakeGuests(fake), eventTimeoutS: 5, debounceMs: 1, clock: instantClock() });
  try {
    await master.reportWhere(() => true, 'the first report');
    const tx = fake.writes;
    const uuids = await portUuids(fake);
    // The same host under another ref: every record that named it now names the new one.
    const h2 = 'OpaqueRef:22222222-0000-0000-0000-000000000000';
    b.records.host[h2] = { ...b.records.host[h]! };
    delete b.records.host[h];
    for (const rec of [...Object.values(b.records.PIF), ...Object.values(b.records.VM)]) {
      for (const k of ['host', 'resident_on']) if (rec[k] === h) rec[k] = h2;
    }
    master.deleted(h, 'host');
    for (const r of [h2, p0, ...Object.keys(b.records.VM)]) master.touch(r === h2 ? 'host' : r === p0 ? 'PIF' : 'VM', r);
    await master.reportWhere((r) => r.gen >= master.gen && agent.hostRef === h2, 'a report under the new ref');
    assert.equal(fake.writes, tx, 'nothing torn down or remade');
    assert.equal(await portUuids(fake), uuids);
  } finally {
    await agent.stop();
    await link.close();
  }
});

test('the host joins a pool and leaves it (membership followed): each master\'s records are realised and reported to it, under its own ref', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-agent-member-'));
  const file = join(dir, 'pool-member.json');
  // Its own serve's pool of one, and the pool it joins: the same host uuid, another ref there.
  const own = pool();
  const master = new SessionMaster(own.b.records, HU);
  const joined = new PoolBuilder();
  const h2 = joined.host(HU);
  const n0 = joined.network('xenbr0');
  joined.physical(h2, 'eth0', n0, { mode: 'Static', IP: '10.0.0.2', netmask: '255.255.255.0', gateway: '10.0.0.1', management: true, MAC: '02:00:00:00:00:01' });
  const priv = joined.network('xapi7');
  joined.vif(joined.vm(h2, 4), priv, 0, '02:00:00:00:04:00');
  const poolMaster = new SessionMaster(joined.records, HU);
  const place = { target: 'unix:/own.sock', credential: { host: own.h, secret: 's' }, trust: {}, masterAddress: '', member: false };
  const link = new MembershipLink(file, place, (p) => (p.member ? poolMaster.login() : master.login()), () => {});
  const fake = new FakeHost({ nics: 2, seed: HU });
  const agent = await runAgent({ client: link, hostUuid: HU, backend: fake, guests: new FakeGuests(fake), eventTimeoutS: 5, debounceMs: 1, clock: instantClock() });
  try {
    await master.reportWhere(() => true, 'a report to its own serve');
    assert.equal(await bridgeOf(fake, 'xapi7'), undefined);
    // xe pool-join: serve writes the membership (the watch or a failing call has it read).
    writeFileSync(file, JSON.stringify({ master: 'https://192.0.2.11', masterAddress: '192.0.2.11', host: h2, hostUuid: HU, secret: 's2' }));
    master.restart(); // serve answers no more as a master: the long poll on it ends
    await poolMaster.reportWhere(() => true, 'a report to the pool\'s master');
    await until(() => agent.hostRef === h2, 'the host\'s ref in the pool');
    await until(async () => (await bridgeOf(fake, 'xapi7')) !== undefined, 'the pool\'s network realised');
    // xe pool-eject: serve removes the file and serves its own pool again.
    const reportsBefore = master.reports.length;
    rmSync(file);
    poolMaster.restart(); // the pool's master ends the ejected host's sessions
    await master.reportWhere((_r) => master.reports.length > reportsBefore, 'a report to its own serve again');
    await until(() => agent.hostRef === own.h, 'its own ref again');
    await until(async () => (await bridgeOf(fake, 'xapi7')) === undefined, 'the pool\'s network gone');
    assert.equal(link.masterChanges, 2);
  } finally {
    await agent.stop();
    await link.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
