// The dispatcher's contract, over real HTTP: every bad request gets a XenAPI error (never a
// crash, hang or 500), sessions and roles are enforced, events and tasks behave as clients expect.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { XapiClient } from '../../src/client/index.js';
import { ROOT_PASSWORD, assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { request } from 'node:http';

let pool: TestPool;
before(async () => { pool = await startTestPool(); });
after(async () => { await pool.close(); });

async function rpc(body: unknown, path = '/jsonrpc'): Promise<{ status: number; type: string | null; json: any }> {
  const r = await fetch(pool.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, type: r.headers.get('content-type'), json: JSON.parse(text) };
}

test('unknown method, wrong arity and bad refs are XenAPI errors with their params', async () => {
  await assertApiError(pool.call('network.frobnicate'), 'MESSAGE_METHOD_UNKNOWN', ['network.frobnicate']);
  await assertApiError(pool.call('network.get_record'), 'MESSAGE_PARAMETER_COUNT_MISMATCH', ['network.get_record', 1, 0]);
  await assertApiError(pool.call('network.get_record', 'OpaqueRef:a', 'extra'), 'MESSAGE_PARAMETER_COUNT_MISMATCH', ['network.get_record', 1, 2]);
  await assertApiError(pool.call('network.get_record', 'OpaqueRef:nope'), 'HANDLE_INVALID', ['network', 'OpaqueRef:nope']);
  const host = (await pool.call<string[]>('host.get_all'))[0]!;
  await assertApiError(pool.call('network.get_record', host), 'HANDLE_INVALID', ['network', host]);
  await assertApiError(pool.call('network.get_by_uuid', 'no-such-uuid'), 'UUID_INVALID', ['network', 'no-such-uuid']);
  await assertApiError(pool.call('network.set_MTU', 'OpaqueRef:x', 'not-a-number'), 'FIELD_TYPE_ERROR', ['value']);
});

test('ints are accepted as numbers or numeric strings; a missing constructor member is INTERNAL_ERROR', async () => {
  const net = await pool.call<string>('network.create', { name_label: 'n', MTU: '1400', other_config: {} });
  assert.equal(await pool.call('network.get_MTU', net), 1400);
  await pool.call('network.set_MTU', net, 9000);
  assert.equal(await pool.call('network.get_MTU', net), 9000);
  await assertApiError(pool.call('network.create', { name_label: 'x' }), 'INTERNAL_ERROR', ['Server_helpers.Dispatcher_FieldNotFound("other_config")']);
});

test('map and set editors: remove of an absent key succeeds, add of a present key is MAP_DUPLICATE_KEY', async () => {
  const net = await pool.call<string>('network.create', { name_label: 'maps', other_config: {} });
  await pool.call('network.add_to_other_config', net, 'k', 'v');
  await assertApiError(pool.call('network.add_to_other_config', net, 'k', 'v'), 'MAP_DUPLICATE_KEY', ['network', 'other_config', net, 'k']);
  await pool.call('network.remove_from_other_config', net, 'absent');
  await pool.call('network.remove_from_other_config', net, 'k');
  assert.deepEqual(await pool.call('network.get_other_config', net), {});
  await pool.call('network.add_tags', net, 't1');
  await pool.call('network.add_tags', net, 't1');
  assert.deepEqual(await pool.call('network.get_tags', net), ['t1']);
  await pool.call('network.remove_tags', net, 'absent');
  const where = await pool.call<Record<string, any>>('network.get_all_records_where', 'field "name__label" = "maps"');
  assert.deepEqual(Object.keys(where), [net]);
  // As in xapi's grammar, `not` takes the whole chain after it: not ((…) and false).
  assert.deepEqual(await pool.call('network.get_all_where', '(not field "name__label" = "maps") and false'), []);
  assert.deepEqual((await pool.call<string[]>('network.get_all_where', 'not (field "name__label" = "maps") and false')).length,
    (await pool.call<string[]>('network.get_all')).length);
});

test('every record of a class carries the same complete set of keys', async () => {
  const recs = await pool.call<Record<string, Record<string, unknown>>>('network.get_all_records');
  const shapes = new Set(Object.values(recs).map((r) => Object.keys(r).sort().join(',')));
  assert.equal(shapes.size, 1);
});

test('JSON-RPC envelopes: 2.0 success has no error key, 1.0 has error null, errors are HTTP 200', async () => {
  const ok2 = await rpc({ jsonrpc: '2.0', id: 5, method: 'system.listMethods', params: [] });
  assert.equal(ok2.status, 200);
  assert.equal(ok2.type, 'application/json');
  assert.equal('error' in ok2.json, false);
  assert.ok(ok2.json.result.includes('VLAN.create'));
  const ok1 = await rpc({ id: 6, method: 'system.listMethods', params: [] });
  assert.equal(ok1.json.error, null);
  const err2 = await rpc({ jsonrpc: '2.0', id: 7, method: 'pool.get_all', params: ['OpaqueRef:stale'] });
  assert.equal(err2.status, 200);
  assert.deepEqual(err2.json.error, { code: 1, message: 'SESSION_INVALID', data: ['OpaqueRef:stale'] });
  const err1 = await rpc({ id: 8, method: 'pool.get_all', params: ['OpaqueRef:stale'] });
  assert.deepEqual(err1.json.error, ['SESSION_INVALID', 'OpaqueRef:stale']);
  const bad = await rpc('{"jsonrpc":"2.0", this is not json');
  assert.equal(bad.status, 200);
  assert.ok(bad.json.error);
});

test('login: wrong password, logout invalidates, read-only role cannot write', async () => {
  await assertApiError(XapiClient.connect({ target: pool.url, user: 'root', password: 'wrong' }), 'SESSION_AUTHENTICATION_FAILED', ['root', 'Authentication failure']);
  const c = await XapiClient.connect({ target: pool.url, user: 'root', password: ROOT_PASSWORD });
  await c.call('pool.get_all');
  const session = (c as any).sessionRef as string;
  await c.call('session.logout');
  const r = await rpc({ jsonrpc: '2.0', id: 1, method: 'pool.get_all', params: [session] });
  assert.equal(r.json.error.message, 'SESSION_INVALID');

  pool.master.server.users.set('viewer', 'secret', 'read-only');
  const ro = await XapiClient.connect({ target: pool.url, user: 'viewer', password: 'secret' });
  assert.equal((await ro.call<string[]>('pool.get_all')).length, 1);
  const e = await assertApiError(ro.call('network.create', { name_label: 'x', other_config: {} }), 'RBAC_PERMISSION_DENIED');
  assert.equal(e.params[0], 'network.create');
  const before = (await pool.call<string[]>('network.get_all')).length;
  assert.equal(before, (await ro.call<string[]>('network.get_all')).length, 'nothing was created');
  await ro.close();
});

test('event.from: initial sync, then one coalesced event per object, EVENTS_LOST and parse failures', async () => {
  const first = await pool.call<any>('event.from', ['network'], '', 0);
  assert.ok(first.events.every((e: any) => e.operation === 'add' && e.class === 'network' && e.snapshot));
  assert.equal(first.valid_ref_counts.network, first.events.length);
  const net = await pool.call<string>('network.create', { name_label: 'ev', other_config: {} });
  await pool.call('network.set_name_label', net, 'ev2');
  const next = await pool.call<any>('event.from', ['NETWORK'], first.token, 5);
  assert.deepEqual(next.events.map((e: any) => [e.operation, e.ref, e.snapshot.name_label]), [['add', net, 'ev2']]);
  assert.ok(next.token > first.token, 'tokens compare as strings');
  // A long poll returns as soon as something changes.
  const waiting = pool.call<any>('event.from', ['network'], next.token, 30);
  await pool.call('network.destroy', net);
  const gone = await waiting;
  assert.deepEqual(gone.events.map((e: any) => [e.operation, e.ref, 'snapshot' in e]), [['del', net, false]]);
  // Nothing new: empty after the timeout.
  const idle = await pool.call<any>('event.from', ['network'], gone.token, 0.2);
  assert.deepEqual(idle.events, []);
  await assertApiError(pool.call('event.from', ['network'], 'garbage', 0), 'EVENT_FROM_TOKEN_PARSE_FAILURE', ['garbage']);

});

test('event.inject returns a token and produces a mod event; legacy register/next work', async () => {
  const poolRef = (await pool.call<string[]>('pool.get_all'))[0]!;
  const token = await pool.call<string>('event.inject', 'pool', poolRef);
  assert.match(token, /^\d{20},\d{20}$/);
  await pool.call('event.register', ['pool']);
  const waiting = pool.call<any[]>('event.next');
  await pool.call('pool.set_name_label', poolRef, 'renamed');
  const evs = await waiting;
  assert.equal(evs[0].class, 'pool');
  assert.equal(evs[0].snapshot.name_label, 'renamed');
  await pool.call('event.unregister', ['pool']);
  await assertApiError(pool.call('event.next'), 'SESSION_NOT_REGISTERED');
});

test('Async calls return a task that ends with an XML-RPC result or error_info', async () => {
  const task = await pool.call<string>('Async.network.create', { name_label: 'async', other_config: {} });
  let rec: any;
  for (let i = 0; i < 100; i++) {
    rec = await pool.call('task.get_record', task);
    if (rec.status !== 'pending') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(rec.status, 'success');
  assert.match(rec.result, /^<value>OpaqueRef:[0-9a-f-]+<\/value>$/);
  const failing = await pool.call<string>('Async.network.destroy', 'OpaqueRef:ghost');
  for (let i = 0; i < 100; i++) {
    rec = await pool.call('task.get_record', failing);
    if (rec.status !== 'pending') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(rec.status, 'failure');
  assert.deepEqual(rec.error_info, ['HANDLE_INVALID', 'network', 'OpaqueRef:ghost']);
  await pool.call('task.destroy', task);
  await assertApiError(pool.call('task.get_record', task), 'HANDLE_INVALID', ['task', task]);
});

test('the server survives garbage on the wire and keeps answering', async () => {
  const r = await fetch(pool.url + '/', { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<methodCall><methodName>x</methodName><params><param><value><struct><member>' });
  assert.equal(r.status, 200);
  assert.match(await r.text(), /<value>Failure<\/value>/);
  // A body declared beyond the limit is refused with 413 and a XenAPI error before it is read:
  // the answer comes while the client has sent only its first 64 KiB.
  const big = await new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
    const req = request(pool.url + '/jsonrpc', { method: 'POST', headers: { 'content-length': String(17 * 1024 * 1024) } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => { resolve({ status: res.statusCode, body }); req.destroy(); });
    });
    req.on('error', reject);
    req.write('x'.repeat(64 * 1024));
  });
  assert.equal(big.status, 413);
  assert.deepEqual(JSON.parse(big.body).error, { code: 1, message: 'INTERNAL_ERROR', data: ['request body exceeds 307200 bytes'] });
  assert.equal((await pool.call<string[]>('pool.get_all')).length, 1);
});

test('a token older than the retained history gets EVENTS_LOST', async () => {
  const small = await startTestPool({ changeLogSize: 4 });
  try {
    const { token } = await small.call<any>('event.from', ['network'], '', 0);
    for (let i = 0; i < 6; i++) await small.call('network.create', { name_label: `n${i}`, other_config: {} });
    await assertApiError(small.call('event.from', ['network'], token, 0), 'EVENTS_LOST', []);
  } finally { await small.close(); }
});
