// pool.dump_database / pool.restore_database (xe pool-dump-database / pool-restore-database):
// a consistent snapshot without user accounts; a restore that checks everything before it
// writes anything, writes nothing for an identical dump, and puts the pool back as it was.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XapiClient } from '../../src/client/index.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { runXe, startServer, type Server } from '../cli/harness.js';
import { uploadDump } from '../../src/cli/commands/pool-db.js';
import { MAX_DUMP_CHARS, stageUpload, takeUpload } from '../../src/server/db-dump.js';

let pool: TestPool;
before(async () => { pool = await startTestPool({ fakeNics: 2 }); });
after(async () => { await pool.close(); });
const store = () => pool.master.server.store;
const dump = () => pool.call<string>('pool.dump_database');
/** As xe does it: the dump in parts, then the restore. */
const restore = async (text: string, dryRun: boolean) => { await uploadDump(pool.client, text); await pool.call('pool.restore_database', dryRun); };
type Dump = { format: string; schema_version: number; generation: number; objects: Record<string, Record<string, Record<string, unknown>>> };

/** Every persistent object as stored (inverse sets included), for before/after comparisons. */
function snapshot(): string {
  const out: Record<string, unknown> = {};
  for (const c of ['pool', 'host', 'network', 'PIF', 'PIF_metrics', 'VM', 'VIF', 'VLAN', 'Bond', 'tunnel']) out[c] = Object.fromEntries(store().all(c));
  return JSON.stringify(out);
}

test('a dump holds every persistent object at one generation, no user, no session', async () => {
  const text = await dump();
  const d = JSON.parse(text) as Dump;
  assert.equal(d.format, 'xcpnet-pool-database');
  assert.equal(d.generation, store().generation);
  assert.ok(d.schema_version >= 1);
  for (const c of ['pool', 'host', 'network', 'PIF']) assert.equal(Object.keys(d.objects[c] ?? {}).length, store().count(c), c);
  assert.equal(d.objects.session, undefined);
  assert.equal(d.objects.task, undefined);
  assert.doesNotMatch(text, /test-root-pw|"hash"|"salt"/);
  // Inverse sets are left out: they follow from the refs.
  const net = Object.values(d.objects.network!)[0]!;
  assert.equal('PIFs' in net, false);
});

test('restoring the dump just taken writes nothing; after changes, it puts the pool back with consistent inverse sets', async () => {
  const text = await dump();
  const before = snapshot();
  const gen = store().generation;
  await restore(text, false);
  assert.equal(store().generation, gen, 'an identical dump commits nothing');

  const vm = await pool.call<string>('VM.create', { name_label: 'later' });
  const net = await pool.call<string>('network.create', { name_label: 'later', other_config: {} });
  await pool.call('VIF.create', { device: '0', network: net, VM: vm, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {} });
  const withVm = await dump();
  const withVmSnapshot = snapshot();
  const [pifRef, pif] = [...store().all('PIF')][0]!;
  const oldNet = pif.network as string;
  await pool.call('network.set_name_label', oldNet, 'renamed');
  assert.notEqual(snapshot(), before);

  // dry-run: checked, not written.
  const g2 = store().generation;
  await restore(text, true);
  assert.equal(store().generation, g2);

  await restore(text, false);
  assert.equal(snapshot(), before, 'every object as it was, inverse sets included');
  assert.equal(store().find('VM', vm), undefined);
  assert.deepEqual(store().get('network', oldNet).PIFs, [pifRef]);

  // Objects that come back refer to each other: VM.VIFs and network.VIFs are rebuilt.
  await restore(withVm, false);
  assert.equal(snapshot(), withVmSnapshot);
  const vif = store().get('VM', vm).VIFs as string[];
  assert.equal(vif.length, 1);
  assert.deepEqual(store().get('network', net).VIFs, vif);
});

test('a damaged or foreign dump is refused with the reason and changes nothing', async () => {
  const good = JSON.parse(await dump()) as Dump;
  const before = snapshot();
  const gen = store().generation;
  const edit = (f: (d: Dump) => void): string => { const d = structuredClone(good); f(d); return JSON.stringify(d); };
  const [pifRef] = Object.keys(good.objects.PIF!);
  const [netRef, net] = Object.entries(good.objects.network!)[0]!;
  const cases: Array<[string, string, RegExp | undefined]> = [
    ['not json', '{"format":', /not JSON/],
    ['another format', JSON.stringify({ format: 'xapi' }), /not a pool database dump/],
    ['another schema version', edit((d) => { d.schema_version += 1; }), undefined],
    ['a dangling reference', edit((d) => { d.objects.PIF![pifRef!]!.network = 'OpaqueRef:00000000-0000-0000-0000-000000000000'; }), /is not a network of the dump/],
    ['a reference of the wrong class', edit((d) => { d.objects.PIF![pifRef!]!.network = pifRef!; }), /is not a network of the dump/],
    ['a field of the wrong type', edit((d) => { d.objects.network![netRef]!.MTU = 'big'; }), /network.MTU/],
    ['a value its rule refuses', edit((d) => { d.objects.network![netRef]!.MTU = 70000; }), /network.MTU/],
    ['an unknown field', edit((d) => { d.objects.network![netRef]!.colour = 'red'; }), /unknown field colour/],
    ['an unknown class', edit((d) => { d.objects.Colour = {}; }), /unknown class Colour/],
    ['a non-persistent class', edit((d) => { d.objects.session = {}; }), /unknown class session/],
    ['a bad ref', edit((d) => { d.objects.network!['OpaqueRef:x'] = net; }), /not an object reference/],
    ['a uuid twice', edit((d) => { d.objects.network!['OpaqueRef:11111111-1111-1111-1111-111111111111'] = net; }), /appears twice/],
    ['no pool', edit((d) => { d.objects.pool = {}; }), /exactly one pool/],
  ];
  for (const [what, text, reason] of cases) {
    for (const dryRun of [true, false]) {
      const e = await assertApiError(restore(text, dryRun), reason ? 'RESTORE_DATABASE_INVALID' : 'RESTORE_INCOMPATIBLE_VERSION');
      if (reason) assert.match(e.params[0]!, reason, what);
    }
  }
  assert.equal(store().generation, gen);
  assert.equal(snapshot(), before);
});

test('uploads: one at a time, bounded, taken by the restore; a restore without one is refused', async () => {
  await assertApiError(pool.call('pool.restore_database', true), 'OPERATION_NOT_ALLOWED');
  await assertApiError(pool.call('pool.restore_database_upload', 'x', false), 'OPERATION_NOT_ALLOWED');
  assert.equal(await pool.call('pool.restore_database_upload', 'abc', true), 3);
  assert.equal(await pool.call('pool.restore_database_upload', 'de', false), 5);
  // Another session cannot start one meanwhile.
  const other = await XapiClient.connect({ target: pool.url, user: 'root', password: 'test-root-pw' });
  try {
    await assertApiError(other.call('pool.restore_database_upload', 'x', true), 'OPERATION_NOT_ALLOWED');
  } finally { await other.close(); }
  const e = await assertApiError(pool.call('pool.restore_database', true), 'RESTORE_DATABASE_INVALID');
  assert.match(e.params[0]!, /not JSON/, 'the restore checked "abcde"');
  await assertApiError(pool.call('pool.restore_database', true), 'OPERATION_NOT_ALLOWED', ['no dump uploaded: send it with pool.restore_database_upload first']);

  // Bounded: a part beyond the limit drops the upload. Idle uploads of others may be replaced.
  const s = store();
  stageUpload(s, 'A', 'x'.repeat(MAX_DUMP_CHARS - 1), true, 0);
  assert.throws(() => stageUpload(s, 'A', 'yy', false, 1), /larger than/);
  assert.throws(() => takeUpload(s, 'A'), /no dump uploaded/);
  stageUpload(s, 'A', 'a', true, 0);
  assert.throws(() => stageUpload(s, 'B', 'b', true, 1000), /another session/);
  stageUpload(s, 'B', 'b', true, 11 * 60 * 1000);
  assert.equal(takeUpload(s, 'B'), 'b');
});

test('only a pool-admin may dump or restore', async () => {
  pool.master.server.users.set('operator', 'op-pw', 'pool-operator');
  const c = await XapiClient.connect({ target: pool.url, user: 'operator', password: 'op-pw' });
  try {
    await assertApiError(c.call('pool.dump_database'), 'RBAC_PERMISSION_DENIED');
    await assertApiError(c.call('pool.restore_database_upload', 'x', true), 'RBAC_PERMISSION_DENIED');
    await assertApiError(c.call('pool.restore_database', true), 'RBAC_PERMISSION_DENIED');
  } finally { await c.close(); }
});

test('xe pool-dump-database writes a 0600 file; pool-restore-database dry-run=true checks it; a dump larger than one request goes through', async () => {
  const server: Server = await startServer();
  try {
    // Enough objects that the dump is far larger than one request may be (300 KiB).
    const c = await XapiClient.connect({ target: `https://127.0.0.1:${server.port}`, user: 'root', password: server.env.XE_PASSWORD!,
      trust: { ca: readFileSync(join(server.dir, 'server.pem'), 'utf8') } });
    try {
      for (let i = 0; i < 600; i++) await c.call('network.create', { name_label: `n${i}`, name_description: 'd'.repeat(512), other_config: {} });
    } finally { await c.close(); }
    const file = join(server.dir, 'pool.dump');
    writeFileSync(file, 'old', { mode: 0o644 });
    let r = await runXe(['pool-dump-database', `file-name=${file}`], server.env);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as Dump).format, 'xcpnet-pool-database');
    assert.ok(statSync(file).size > 300 * 1024, `the dump is ${statSync(file).size} bytes`);
    r = await runXe(['pool-restore-database', `file-name=${file}`, 'dry-run=true'], server.env);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, 'Dry run: the dump is valid; nothing was restored.\n', '']);
    r = await runXe(['pool-restore-database', `file-name=${file}`], server.env);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
    rmSync(file);
    r = await runXe(['pool-restore-database', `file-name=${file}`], server.env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read .*pool\.dump/);
  } finally { await server.stop(); }
});
