// runAgent against a scripted master (event.from + report_network_state) and the fake host.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Rec } from '../idl/meta.js';
import { FakeGuests } from '../backends/fake/guests.js';
import { FakeHost } from '../backends/fake/host.js';
import { runAgent, type AgentClient } from './index.js';
import { PoolBuilder } from './pool-builder.js';
import { POOL_CLASSES, type PoolRecords } from './records.js';
import { parseReport } from '../protocol/host-agent.js';
import { fakeMac } from '../backends/fake/nics.js';

const HU = '11111111-2222-3333-4444-555555555555';
const tok = (g: number) => `${String(g).padStart(20, '0')},${'0'.repeat(20)}`;

/** Just enough of the master: a generation per write, event.from with coalescing, reports recorded. */
class FakeMaster implements AgentClient {
  gen = 1;
  private modified = new Map<string, { cls: string; gen: number; deleted: boolean }>();
  reports: { gen: number; state: Record<string, unknown> }[] = [];
  onReport?: (gen: number, state: Record<string, unknown>) => void;
  /** The generation of the last event.from token: the agent has applied every event up to it. */
  lastFrom = -1;
  constructor(readonly records: PoolRecords) {}

  touch(cls: keyof PoolRecords, ref: string, fields: Rec = {}): void {
    const rec = this.records[cls][ref];
    assert.ok(rec, `${cls} ${ref}`);
    Object.assign(rec, fields);
    this.modified.set(ref, { cls, gen: ++this.gen, deleted: false });
  }

  async call(method: string, ...params: unknown[]): Promise<unknown> {
    if (method === 'host.report_network_state') {
      parseReport(params[2]); // every report the agent sends passes the master's checks
      this.reports.push({ gen: params[1] as number, state: params[2] as Record<string, unknown> });
      this.onReport?.(params[1] as number, params[2] as Record<string, unknown>);
      return '';
    }
    if (method !== 'event.from') throw new Error(`unexpected ${method}`);
    const token = params[1] as string;
    this.lastFrom = token === '' ? 0 : Number(token.split(',')[0]);
    if (token === '') {
      const events = POOL_CLASSES.flatMap((c) => Object.entries(this.records[c]).map(([ref, snapshot]) =>
        ({ class: c.toLowerCase(), operation: 'add', ref, snapshot: structuredClone(snapshot) })));
      return { events, token: tok(this.gen), valid_ref_counts: {} };
    }
    const from = Number(token.split(',')[0]);
    const deadline = Date.now() + Number(params[2]) * 1000;
    while (this.gen <= from && Date.now() < deadline) await sleep(5);
    const events = [...this.modified].filter(([, m]) => m.gen > from).map(([ref, m]) => ({
      class: m.cls.toLowerCase(), operation: m.deleted ? 'del' : 'mod', ref,
      snapshot: structuredClone(this.records[m.cls as keyof PoolRecords][ref]),
    }));
    return { events, token: tok(this.gen), valid_ref_counts: {} };
  }
}

async function until(pred: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function pool() {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const n0 = b.network('xenbr0');
  const p0 = b.physical(h, 'eth0', n0, { mode: 'Static', IP: '10.0.0.2', netmask: '255.255.255.0', management: true, MAC: '02:00:00:00:00:01' });
  return { b, h, n0, p0 };
}

test('agent converges, reports generation/NICs/MTU/bridges, follows events, repairs drift, restarts hitlessly', async () => {
  const { b, h, n0, p0 } = pool();
  const master = new FakeMaster(b.records);
  const fake = new FakeHost({ nics: 2, seed: HU });
  const guests = new FakeGuests(fake);
  const agent = await runAgent({ client: master, hostRef: h, backend: fake, guests, eventTimeoutS: 0.2, debounceMs: 1 });
  try {
    await until(() => master.reports.length > 0, 'first report');
    const r0 = master.reports.at(-1)!;
    assert.equal(r0.gen, 1);
    assert.equal(r0.state.backend, 'fake');
    assert.deepEqual(r0.state.nics, [0, 1].map((i) => ({
      device: `eth${i}`, position: i, MAC: fakeMac(HU, i), MTU: 1500, carrier: true, speed: 10000, duplex: 'full', vendor_id: '1af4',
      vendor_name: 'xcpnet', device_id: '0001', device_name: 'fake NIC', pci_bus_path: `0000:00:0${i + 3}.0`, driver: 'fake',
    })));
    assert.deepEqual(r0.state.errors, {});
    assert.deepEqual(r0.state.PIFs, { [p0]: { MTU: 1500 } });
    assert.deepEqual((r0.state.bridges as { name: string; interfaces: string[] }[]).map((x) => [x.name, x.interfaces]), [['xenbr0', ['eth0']]]);
    assert.ok((await fake.observe()).bridges.some((x) => x.name === 'xenbr0'));

    // A VM starts: the master commits at some generation G; the agent reports ≥ G with the port real.
    const vm = b.vm(h, 3);
    const vif = b.vif(vm, n0, 0, '02:00:00:00:03:00');
    master.touch('VIF', vif);
    master.touch('VM', vm);
    const g = master.gen;
    await until(() => master.reports.some((r) => r.gen >= g), 'report of the VM start');
    const vifsOn = async (br: string) => (await fake.observe()).bridges.find((x) => x.name === br)?.vifs;
    assert.deepEqual(await vifsOn('xenbr0'), ['vif3.0']);
    assert.deepEqual(master.reports.at(-1)!.state.errors, {});

    // Drift: the port removed by hand comes back without any event from the master.
    const tx = fake.writes;
    fake.removePortByHand('vif3.0');
    await until(() => fake.writes > tx, 'repair');
    assert.deepEqual(await vifsOn('xenbr0'), ['vif3.0']);
  } finally {
    await agent.stop();
  }
  // Restart: a new agent on the same host changes nothing.
  const tx = fake.writes;
  const uuids = JSON.stringify((await fake.observe()).bridges.map((x) => x.id));
  const again = await runAgent({ client: master, hostRef: h, backend: fake, guests, eventTimeoutS: 0.2, debounceMs: 1 });
  const before = master.reports.length;
  try {
    await until(() => master.reports.length > before, 'report after restart');
    assert.equal(fake.writes, tx, 'no write after a restart');
    assert.equal(JSON.stringify((await fake.observe()).bridges.map((x) => x.id)), uuids);
  } finally {
    await again.stop();
  }
});

test('errors name the object; a master that echoes writes does not make the agent loop', async () => {
  const { b, h, n0 } = pool();
  const bad = b.physical(h, 'eth7', b.network('xenbr7'));
  const master = new FakeMaster(b.records);
  // The master writes the reported MTU back on every report (a no-op write bumps the generation).
  master.onReport = (_g, state) => { for (const ref of Object.keys(state.PIFs as object)) master.touch('PIF', ref); };
  const fake = new FakeHost({ nics: 1, seed: HU });
  const agent = await runAgent({ client: master, hostRef: h, backend: fake, eventTimeoutS: 0.1, debounceMs: 1 });
  try {
    await until(() => master.reports.length > 0, 'first report');
    const errors = master.reports[0]?.state.errors as Record<string, string> | undefined;
    assert.match(errors?.[bad] ?? 'no error', /eth7/);
    // The echo of the first report is a write that changes nothing: once the agent has read it
    // (it asks for events after it), a real change follows; its report must be the next one.
    const echoed = master.gen;
    await until(() => master.lastFrom >= echoed, 'the echo read');
    master.touch('network', n0, { MTU: 9000 });
    const changed = master.gen;
    await until(() => master.reports.some((r) => r.gen >= changed), 'the report of a real change');
    assert.deepEqual(master.reports.map((r) => r.gen >= changed), [false, true], 'no report answers an echo');
  } finally {
    await agent.stop();
  }
});
