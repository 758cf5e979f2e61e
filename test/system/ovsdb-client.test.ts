// OVSDB client against a real, private ovsdb-server (and ovs-vswitchd in a netns).
// Every test instance lives in its own /tmp/xcpt-ovsdb-* dir and is stopped by pid.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { OvsdbClient, OvsdbError, ops, namedUuid, uuid, startOvs, isRunning, type OvsInstance, type Monitor, type RowChange } from '../../src/backends/ovsdb/index.js';

const run = promisify(execFile);
const tmpDir = () => mkdtemp('/tmp/xcpt-ovsdb-');

/** Bridge + Port + Interface of the same name, linked into Open_vSwitch.bridges. */
function addBridgeOps(name: string, extra: Record<string, unknown> = {}): ops.Op[] {
  return [
    ops.insert('Interface', { name, type: 'internal' }, 'i0'),
    ops.insert('Port', { name, interfaces: namedUuid('i0') }, 'p0'),
    ops.insert('Bridge', { name, ports: [namedUuid('p0')], ...extra }, 'b0'),
    ops.mutate('Open_vSwitch', [], [ops.mInsert('bridges', namedUuid('b0'))]),
  ];
}

async function expectOvsdbError(p: Promise<unknown>, kind: string): Promise<OvsdbError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OvsdbError, `expected OvsdbError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    return e;
  }
  assert.fail(`expected an OvsdbError of kind ${kind}`);
}

describe('ovsdb client against ovsdb-server', () => {
  let inst: OvsInstance;
  let client: OvsdbClient;
  let mon: Monitor;
  const changes: RowChange[] = [];

  before(async () => {
    inst = await startOvs({ dir: await tmpDir(), vswitchd: false });
    client = await OvsdbClient.connect(inst.dbSocket, { backoff: { minBackoffMs: 50, maxBackoffMs: 400 } });
    mon = await client.monitor('Open_vSwitch', {
      Open_vSwitch: ['bridges', 'next_cfg', 'cur_cfg'],
      Bridge: ['name', 'ports', 'external_ids', 'fail_mode', 'datapath_type', 'other_config'],
      Port: ['name', 'interfaces', 'tag', 'trunks'],
      Interface: ['name', 'type'],
    });
    mon.onChange((c) => changes.push(...c));
  });

  after(async () => {
    client?.close();
    await inst?.stop();
    if (inst) {
      assert.equal(existsSync(inst.dir), false, 'instance dir removed');
      assert.equal(isRunning(inst.pids.ovsdbServer), false, 'ovsdb-server gone');
    }
  });

  test('the instance is private: its own dir, socket and pid', async () => {
    assert.match(inst.dbSocket, /^unix:\/tmp\/xcpt-ovsdb-[^/]+\/db\.sock$/);
    const cmd = await run('cat', [`/proc/${inst.pids.ovsdbServer}/cmdline`]);
    assert.ok(cmd.stdout.includes(inst.dir), 'the recorded pid is our ovsdb-server');
  });

  test('list_dbs and get_schema', async () => {
    const dbs = await client.listDbs();
    assert.ok(dbs.includes('Open_vSwitch'), JSON.stringify(dbs));
    const s = await client.getSchema('Open_vSwitch');
    assert.equal(s.name, 'Open_vSwitch');
    assert.match(s.version, /^\d+\.\d+\.\d+$/);
    assert.equal(s.tables.Bridge!.columns.ports!.type.max, Infinity);
    assert.equal(s.tables.Bridge!.columns.ports!.type.key.refTable, 'Port');
    assert.equal(s.tables.Open_vSwitch!.isRoot, true);
    await expectOvsdbError(client.getSchema('NoSuchDb'), 'unknown-database');
  });

  test('insert Bridge+Port+Interface with named-uuids and link them in one transaction', async () => {
    const res = await client.transact('Open_vSwitch', [...addBridgeOps('xcpt0', { external_ids: { a: '1' } }), ops.comment('test: add xcpt0')]);
    assert.equal(res.length, 5);
    const [ifU, portU, brU] = [res[0]!.uuid!, res[1]!.uuid!, res[2]!.uuid!];
    for (const u of [ifU, portU, brU]) assert.match(u, /^[0-9a-f-]{36}$/);
    assert.equal(res[3]!.count, 1);
    await mon.synced();
    const br = mon.replica.get('Bridge', brU);
    assert.ok(br, 'bridge in replica');
    assert.equal(br.name, 'xcpt0');
    assert.deepEqual(br.ports, [portU]);
    assert.deepEqual(br.external_ids, { a: '1' });
    assert.equal(br.fail_mode, null);
    assert.deepEqual(mon.replica.get('Port', portU)!.interfaces, [ifU]);
    assert.equal(mon.replica.get('Interface', ifU)!.type, 'internal');
    assert.ok((mon.replica.rows('Open_vSwitch')[0]!.bridges as string[]).includes(brU));
    assert.ok(changes.some((c) => c.table === 'Bridge' && c.uuid === brU && !c.old && c.new), 'insert seen by the listener');
    // and an outside tool agrees
    assert.match(await inst.vsctl('--no-wait', 'list-br'), /^xcpt0$/m);
  });

  test('update external_ids map with delete+insert mutations, and update a column', async () => {
    await client.transact('Open_vSwitch', [
      ops.mutate('Bridge', ops.byName('xcpt0'), [...ops.mSetKey('external_ids', 'a', '2'), ops.mInsert('external_ids', { b: 'x' })]),
      ops.update('Bridge', ops.byName('xcpt0'), { fail_mode: 'secure' }),
    ]);
    await mon.synced();
    const br = mon.replica.byName('Bridge', 'xcpt0')!;
    assert.deepEqual(br.external_ids, { a: '2', b: 'x' });
    assert.equal(br.fail_mode, 'secure');
    assert.equal((await inst.vsctl('--no-wait', 'br-get-external-id', 'xcpt0', 'a')).trim(), '2');
    // clear an optional column with null (encoded as the empty set)
    await client.transact('Open_vSwitch', [ops.update('Bridge', ops.byName('xcpt0'), { fail_mode: null })]);
    await mon.synced();
    assert.equal(mon.replica.byName('Bridge', 'xcpt0')!.fail_mode, null);
  });

  test('a failing op gives a typed error with its index, and nothing is committed', async () => {
    // op 1 (wait) fails: fail_mode is not 'secure'
    const e1 = await expectOvsdbError(client.transact('Open_vSwitch', [
      ops.mutate('Bridge', ops.byName('xcpt0'), [ops.mInsert('external_ids', { leaked: 'yes' })]),
      ops.wait('Bridge', ops.byName('xcpt0'), ['fail_mode'], [{ fail_mode: 'secure' }], { timeoutMs: 0 }),
    ]), 'timed-out');
    assert.equal(e1.opIndex, 1);
    assert.equal(e1.op, 'wait');
    assert.equal(e1.tag, 'timed out');
    // op 0 fails: enum constraint
    const e2 = await expectOvsdbError(client.transact('Open_vSwitch', [
      ops.update('Bridge', ops.byName('xcpt0'), { fail_mode: 'bogus' }),
    ]), 'constraint-violation');
    assert.equal(e2.opIndex, 0);
    // the commit fails (duplicate name, a unique index): reported after the last op
    const e3 = await expectOvsdbError(client.transact('Open_vSwitch', [
      ops.mutate('Bridge', ops.byName('xcpt0'), [ops.mInsert('external_ids', { leaked: 'yes' })]),
      ...addBridgeOps('xcpt0'),
    ]), 'constraint-violation');
    assert.equal(e3.opIndex, 5);
    assert.equal(e3.op, 'commit');
    // referential integrity: a strong reference to a row that does not exist
    const e4 = await expectOvsdbError(client.transact('Open_vSwitch', [
      ops.mutate('Bridge', ops.byName('xcpt0'), [ops.mInsert('ports', uuid('00000000-1111-2222-3333-444444444444'))]),
    ]), 'referential-integrity');
    assert.equal(e4.opIndex, 1);
    await mon.synced();
    assert.equal((mon.replica.byName('Bridge', 'xcpt0')!.external_ids as Record<string, string>).leaked, undefined);
    assert.equal(mon.replica.rows('Bridge').filter((b) => b.name === 'xcpt0').length, 1);
    assert.doesNotMatch(await inst.vsctl('--no-wait', 'br-get-external-id', 'xcpt0'), /leaked/);
  });

  test('delete by unlinking: Bridge, Port and Interface are garbage-collected', async () => {
    const br = mon.replica.byName('Bridge', 'xcpt0')!;
    const portU = (br.ports as string[])[0]!;
    const ifU = (mon.replica.get('Port', portU)!.interfaces as string[])[0]!;
    const res = await client.transact('Open_vSwitch', [
      ops.mutate('Open_vSwitch', [], [ops.mDelete('bridges', uuid(br._uuid as string))]),
    ]);
    assert.equal(res[0]!.count, 1);
    await mon.synced();
    assert.equal(mon.replica.get('Bridge', br._uuid as string), undefined);
    assert.equal(mon.replica.get('Port', portU), undefined);
    assert.equal(mon.replica.get('Interface', ifU), undefined);
    assert.ok(changes.some((c) => c.table === 'Interface' && c.uuid === ifU && c.old && !c.new), 'delete seen by the listener');
    // an explicit delete op on a root table row that matches nothing counts 0
    const r2 = await client.transact('Open_vSwitch', [ops.del('QoS', [['type', '==', 'nonexistent']])]);
    assert.equal(r2[0]!.count, 0);
  });

  test('monitor_cond updates arrive for changes made by ovs-vsctl, diffs applied right', async () => {
    assert.equal(mon.method, 'monitor_cond');
    await inst.vsctl('--no-wait', 'add-br', 'xcpt1', '--', 'set', 'bridge', 'xcpt1', 'datapath_type=netdev');
    await mon.waitFor((r) => r.byName('Bridge', 'xcpt1') !== undefined, 5000);
    assert.equal(mon.replica.byName('Bridge', 'xcpt1')!.datapath_type, 'netdev');
    const port = () => mon.replica.byName('Port', 'xcpt1')!;
    const steps: [string[], (p: Readonly<Record<string, unknown>>) => boolean, string][] = [
      [['set', 'port', 'xcpt1', 'tag=10'], (p) => p.tag === 10, 'tag 10'],
      [['set', 'port', 'xcpt1', 'tag=20'], (p) => p.tag === 20, 'tag 20'],
      [['clear', 'port', 'xcpt1', 'tag'], (p) => p.tag === null, 'tag cleared'],
      [['set', 'port', 'xcpt1', 'trunks=1,2,3'], (p) => JSON.stringify([...(p.trunks as number[])].sort()) === '[1,2,3]', 'trunks 1,2,3'],
      [['set', 'port', 'xcpt1', 'trunks=2,4'], (p) => JSON.stringify([...(p.trunks as number[])].sort()) === '[2,4]', 'trunks 2,4'],
    ];
    for (const [args, ok, what] of steps) {
      await inst.vsctl('--no-wait', ...args);
      await mon.waitFor(() => ok(port()), 5000, what);
    }
    const oc = () => mon.replica.byName('Bridge', 'xcpt1')!.other_config;
    await inst.vsctl('--no-wait', 'set', 'bridge', 'xcpt1', 'other_config:k1=a', 'other_config:k2=b');
    await mon.waitFor(() => JSON.stringify(oc()) === '{"k1":"a","k2":"b"}', 5000, 'k1,k2');
    await inst.vsctl('--no-wait', 'set', 'bridge', 'xcpt1', 'other_config:k1=z');
    await mon.waitFor(() => JSON.stringify(oc()) === '{"k1":"z","k2":"b"}', 5000, 'k1 changed');
    await inst.vsctl('--no-wait', 'remove', 'bridge', 'xcpt1', 'other_config', 'k2');
    await mon.waitFor(() => JSON.stringify(oc()) === '{"k1":"z"}', 5000, 'k2 removed');
    // the replica matches a fresh select exactly
    const [sel] = await client.transact('Open_vSwitch', [ops.select('Port', ops.byName('xcpt1'), ['tag', 'trunks'])]);
    assert.deepEqual([...(sel!.rows![0]!.trunks as number[])].sort(), [...(port().trunks as number[])].sort());
  });

  test('our own echo probe keeps the session alive while idle', async () => {
    const c = await OvsdbClient.connect(inst.dbSocket, { probeIntervalMs: 100 });
    try {
      await sleep(450);
      assert.ok(c.session.stats.probesSent >= 1, `probes sent: ${c.session.stats.probesSent}`);
      assert.equal(c.session.stats.connects, 1);
      assert.ok((await c.listDbs()).includes('Open_vSwitch'));
    } finally {
      c.close();
    }
  });

  test("the server's inactivity probe is answered and the connection survives", async () => {
    const probeSock = `${inst.dir}/p.sock`;
    await inst.vsctl('--no-wait', '--', '--id=@m', 'create', 'Manager', `target="punix:${probeSock}"`, 'inactivity_probe=1000',
      '--', 'add', 'Open_vSwitch', '.', 'manager_options', '@m');
    for (let i = 0; i < 100 && !existsSync(probeSock); i++) await sleep(20);
    assert.ok(existsSync(probeSock), 'manager socket created');
    // Control: a peer that does not answer echo is dropped by the server.
    const dropped = await new Promise<boolean>((resolve) => {
      const raw = createConnection({ path: probeSock });
      raw.on('data', () => { /* read, never answer */ });
      const t = setTimeout(() => { raw.destroy(); resolve(false); }, 6000);
      raw.on('close', () => { clearTimeout(t); resolve(true); });
      raw.on('error', () => { /* close follows */ });
    });
    assert.equal(dropped, true, 'the server drops a silent peer');
    // Our client with its own probe off: only the server's echo keeps it alive.
    const c = await OvsdbClient.connect(`unix:${probeSock}`, { probeIntervalMs: 0, reconnect: false });
    try {
      await sleep(3500);
      assert.ok(c.session.stats.echoesAnswered >= 1, `echoes answered: ${c.session.stats.echoesAnswered}`);
      assert.equal(c.connected, true);
      assert.equal(c.session.stats.connects, 1);
      assert.ok((await c.listDbs()).includes('Open_vSwitch'));
    } finally {
      c.close();
    }
  });

  test('reconnect: ovsdb-server killed and restarted; pending calls fail typed, monitors resync', async () => {
    const before = mon.replica.byName('Bridge', 'xcpt1')!;
    const connects = client.session.stats.connects;
    // A transact blocked in a wait, in flight when the server dies.
    const blocked = client.transact('Open_vSwitch', [
      ops.wait('Bridge', ops.byName('xcpt1'), ['fail_mode'], [{ fail_mode: 'secure' }], { timeoutMs: 20000 }),
    ]);
    const blockedErr = expectOvsdbError(blocked, 'disconnected');
    await sleep(100);
    let resyncChanges: RowChange[] = [];
    const off = mon.onChange((c) => { resyncChanges = resyncChanges.concat(c); });
    await inst.restartDb({
      whileDown: async () => {
        await blockedErr;
        assert.equal(client.connected, false);
        await expectOvsdbError(client.listDbs(), 'disconnected');
        // Change the db file while nobody is looking: only a resync can reveal it.
        await run('ovsdb-tool', ['transact', inst.dbFile, JSON.stringify(['Open_vSwitch',
          { op: 'mutate', table: 'Bridge', where: [['name', '==', 'xcpt1']],
            mutations: [['external_ids', 'insert', ['map', [['offline', 'yes']]]]] }])]);
      },
    });
    assert.notEqual(client.session.stats.connects, undefined);
    await client.session.waitConnected(5000);
    await mon.waitFor((r) => (r.byName('Bridge', 'xcpt1')?.external_ids as Record<string, string> | undefined)?.offline === 'yes',
      5000, 'resync');
    off();
    assert.equal(client.session.stats.connects, connects + 1);
    assert.equal(mon.replica.byName('Bridge', 'xcpt1')!._uuid, before._uuid, 'same row after resync');
    assert.ok(resyncChanges.some((c) => c.table === 'Bridge' && c.old && c.new &&
      (c.new.external_ids as Record<string, string>).offline === 'yes'), 'resync reported as a modify');
    // and the monitor is live again
    await inst.vsctl('--no-wait', 'set', 'port', 'xcpt1', 'tag=33');
    await mon.waitFor((r) => r.byName('Port', 'xcpt1')?.tag === 33, 5000, 'live after reconnect');
  });
});

describe('ovsdb client with ovs-vswitchd (netdev datapath, own netns)', () => {
  const netns = `xcpt-ovsdb-${process.pid}`;
  let inst: OvsInstance | undefined;
  let client: OvsdbClient | undefined;
  let nsMade = false;

  before(async () => {
    await run('ip', ['netns', 'add', netns]);
    nsMade = true;
    inst = await startOvs({ dir: await tmpDir(), vswitchd: true, netns });
    client = await OvsdbClient.connect(inst.dbSocket);
  });

  after(async () => {
    client?.close();
    try {
      await inst?.stop();
    } finally {
      if (nsMade) await run('ip', ['netns', 'delete', netns]);
    }
    if (inst?.pids.vswitchd) assert.equal(isRunning(inst.pids.vswitchd), false, 'vswitchd gone');
    assert.equal(isRunning(inst!.pids.ovsdbServer), false, 'ovsdb-server gone');
  });

  test('bridge with datapath_type=netdev + next_cfg increment resolves waitForCurCfg', async () => {
    const c = client!;
    const { results, nextCfg } = await c.transactAndWait(addBridgeOps('xcptb0', { datapath_type: 'netdev' }), 10_000);
    assert.equal(results.length, 4);
    assert.ok(nextCfg >= 1);
    // vswitchd really applied it: the internal port has an ofport and a tap device exists in the netns.
    const [sel] = await c.transact('Open_vSwitch', [ops.select('Interface', ops.byName('xcptb0'), ['ofport', 'error'])]);
    assert.equal(sel!.rows![0]!.ofport, 65534, JSON.stringify(sel!.rows![0]));
    const link = await run('ip', ['netns', 'exec', netns, 'ip', '-json', 'link', 'show', 'xcptb0']);
    assert.equal(JSON.parse(link.stdout)[0].ifname, 'xcptb0');
    // An explicit next_cfg bump in the caller's own transaction works the same way.
    const res = await c.transact('Open_vSwitch', [
      ops.mutate('Bridge', ops.byName('xcptb0'), [ops.mInsert('external_ids', { k: 'v' })]),
      ops.bumpNextCfg(),
      ops.select('Open_vSwitch', [], ['next_cfg']),
    ]);
    const n2 = res[2]!.rows![0]!.next_cfg as number;
    assert.equal(n2, nextCfg + 1);
    await c.waitForCurCfg(n2, 10_000);
    // A cfg nobody will ever reach times out, typed.
    await expectOvsdbError(c.waitForCurCfg(n2 + 1000, 300), 'cur-cfg-timeout');
  });
});
