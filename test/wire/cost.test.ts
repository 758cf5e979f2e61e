// What makes a call cost what it changes, and what it must not weaken: replies wait for the
// durable write of everything they reflect (group commit), get_all_records is kept per class,
// event.from shares one encoding of each change between its watchers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Value } from '../../src/idl/meta.js';
import { findClass } from '../../src/idl/index.js';
import { encodeJsonRpcResponse, encodeJsonRpcResponseParts } from '../../src/rpc/jsonrpc.js';
import { RULES } from '../../src/server/impl/index.js';
import { XapiServer } from '../../src/server/server.js';

let dir: string;
let server: XapiServer;
let session: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'xcpnet-cost-'));
  server = new XapiServer({ dbPath: join(dir, 'xcpnet.db'), impls: RULES });
  session = server.sessions.open('root', 'pool-admin', 'test');
});
after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });

async function call(method: string, ...params: unknown[]): Promise<Value> {
  const r = await server.handle({ method, params: [session, ...params] as Value[] });
  if (!r.ok) throw new Error(r.error.join(' '));
  return r.value;
}
const newNetwork = (name: string) => call('network.create', { name_label: name, other_config: {} }) as Promise<string>;

test('no reply precedes the durable commit of what it reflects: the writer\'s own and what others read', async () => {
  // Another connection to the database file, read at the instant each reply is handed over.
  const reader = new Database(join(dir, 'xcpnet.db'), { readonly: true });
  const onDisk = (ref: string) => !!reader.prepare('SELECT 1 FROM objects WHERE ref = ?').get(ref);
  const missing: string[] = [];
  const replies: Array<Promise<void>> = [];
  for (let i = 0; i < 40; i++) {
    // Writers, many in flight at once (they are committed in groups)…
    replies.push(newNetwork(`durable-${i}`).then((ref) => { if (!onDisk(ref)) missing.push(`create ${ref}`); }));
    // …and readers of the same class, whose replies list the networks committed so far.
    replies.push(call('network.get_all_records').then((all) => {
      for (const ref of Object.keys(all as object)) if (!onDisk(ref)) missing.push(`listed ${ref}`);
    }));
  }
  await Promise.all(replies);
  reader.close();
  assert.deepEqual(missing, []);
});

test('get_all_records is kept per class: a login or a write elsewhere leaves the answer as it was', async () => {
  await newNetwork('kept');
  const first = await call('network.get_all_records');
  assert.equal(await call('network.get_all_records'), first, 'the same answer, not rebuilt');
  server.sessions.open('root', 'pool-admin', 'another login');
  await call('VM.create', { name_label: 'elsewhere' });
  assert.equal(await call('network.get_all_records'), first, 'still the same answer');
  const added = await newNetwork('new');
  const second = await call('network.get_all_records') as Record<string, Value>;
  assert.notEqual(second, first);
  assert.ok(added in second);
});

test('the bytes of a class are rebuilt from the unchanged records\' bytes, and equal a fresh encoding', async () => {
  const reply = (value: Value) => encodeJsonRpcResponseParts({ version: '2.0', id: 1 }, { ok: true, value, ty: { kind: 'map', key: { kind: 'ref', cls: 'network' }, value: { kind: 'record', cls: 'network' } } }, findClass);
  const bytes = (parts: Array<string | Buffer>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  const nets: string[] = [];
  for (let i = 0; i < 30; i++) nets.push(await newNetwork(`bytes-${i}`));
  // Deterministic changes: renames, removals and additions, each followed by a read.
  for (let step = 0; step < 30; step++) {
    if (step % 3 === 0) await call('network.set_name_label', nets[(step * 7) % nets.length], `renamed ${step} «ü»`);
    else if (step % 3 === 1) { const [gone] = nets.splice((step * 5) % nets.length, 1); await call('network.destroy', gone); }
    else nets.push(await newNetwork(`more-${step}`));
    const value = await call('network.get_all_records');
    const parts = reply(value);
    // A deep copy shares no record with the cache: everything in it is encoded afresh.
    const fresh = reply(JSON.parse(JSON.stringify(value)) as Value);
    assert.equal(bytes(parts).toString(), bytes(fresh).toString(), `step ${step}`);
    assert.deepEqual(JSON.parse(bytes(parts).toString()).result, JSON.parse(JSON.stringify(value)));
    // Asked again, the same bytes (the same Buffer), not a new copy.
    assert.equal(reply(value)[1], parts[1]);
  }
});

test('event.from watchers at the same generation share one frozen answer and its event objects (one encoding)', async () => {
  const from = async (token: string) => call('event.from', ['network'], token, 0) as Promise<{ events: Value[]; token: string }>;
  const start = (await from('')).token;
  await newNetwork('watched');
  const [a, b] = await Promise.all([from(start), from(start)]);
  assert.equal(a.events.length, 1);
  assert.equal(a, b, 'one answer for both watchers');
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.events[0]));
  // A watcher that is behind gets its own answer, with the same event object for the same change.
  await newNetwork('watched too');
  const [c, d] = await Promise.all([from(start), from(a.token)]);
  assert.notEqual(c, d);
  assert.equal(c.events.length, 2);
  assert.equal(c.events.find((e) => (e as { ref: string }).ref === (d.events[0] as { ref: string }).ref), d.events[0]);
});

test('event.from\'s first answer takes each snapshot from the class\'s bytes, and equals a fresh encoding', async () => {
  await newNetwork('snapshot «ü»');
  await call('network.get_all_records'); // the class's bytes, as a serving master has them
  await call('network.set_name_label', (await call('network.get_all') as string[])[0], 'changed since');
  const first = await call('event.from', ['network', 'VM'], '', 0);
  const encode = (value: Value) => encodeJsonRpcResponse({ version: '2.0', id: 1 }, { ok: true, value, ty: { kind: 'any' } }, findClass);
  assert.equal(encode(first), encode(JSON.parse(JSON.stringify(first)) as Value));
});

test('a server whose database refuses a write acknowledges nothing from then on, and says so once', async () => {
  const d = mkdtempSync(join(tmpdir(), 'xcpnet-cost-'));
  const logged: string[] = [];
  const s = new XapiServer({ dbPath: join(d, 'xcpnet.db'), impls: RULES, log: (l) => logged.push(l) });
  const me = s.sessions.open('root', 'pool-admin', 'test');
  const run = (method: string, ...params: unknown[]) => s.handle({ method, params: [me, ...params] as Value[] });
  assert.equal((await run('network.create', { name_label: 'kept', other_config: {} })).ok, true);
  const other = new Database(join(d, 'xcpnet.db'));
  other.exec('DROP TABLE objects');
  other.close();
  for (const r of [await run('network.create', { name_label: 'lost', other_config: {} }), await run('network.get_all_records'), await run('VM.create', { name_label: 'refused' })]) {
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error[0], 'INTERNAL_ERROR');
  }
  assert.equal(logged.filter((l) => l.startsWith('nothing more is acknowledged')).length, 1);
  s.close();
  rmSync(d, { recursive: true, force: true });
});
