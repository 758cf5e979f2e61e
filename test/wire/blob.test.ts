// Blobs over the wire: network/host/pool.create_new_blob, then the content through
// `PUT`/`GET /blob?ref=…&session_id=…` as xapi serves it (xen-api: ocaml/xapi/xapi_blob.ml), with
// its roles, public blobs read without a session, bounded bodies, and blob.destroy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { MAX_BLOB_BYTES } from '../../src/server/blob-http.js';
import { XapiClient } from '../../src/client/index.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';

let pool: TestPool;
let viewer: XapiClient;
let session: string;
before(async () => {
  pool = await startTestPool();
  pool.master.server.users.set('viewer', 'viewer-pw', 'read-only');
  viewer = await XapiClient.connect({ target: pool.url, user: 'viewer', password: 'viewer-pw' });
  session = pool.master.server.sessions.open('root', 'pool-admin', 'blob-test');
});
after(async () => { await viewer?.close(); await pool?.close(); });

/** One HTTP request to the master; `length` overrides the Content-Length the body would give. */
function http(method: string, query: string, body?: Buffer, headers: Record<string, string | number> = {}): Promise<{ status: number; type?: string; body: Buffer }> {
  const url = new URL(`/blob?${query}`, pool.url);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...(body ? { 'Content-Length': body.length } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body) req.end(body); else req.end();
  });
}

const netRef = async () => (await pool.call<string[]>('network.get_all'))[0]!;

test('create_new_blob names an empty blob in the holder\'s blobs; PUT fills it, GET reads it back', async () => {
  const net = await netRef();
  const blob = await pool.call<string>('network.create_new_blob', net, 'notes', 'text/plain', false);
  assert.deepEqual(await pool.call('network.get_blobs', net), { notes: blob });
  let rec = await pool.call<Record<string, unknown>>('blob.get_record', blob);
  assert.deepEqual([rec.size, rec.mime_type, rec.public, rec.last_updated], [0, 'text/plain', false, '19700101T00:00:00Z']);
  await assertApiError(pool.call('network.create_new_blob', net, 'notes', '', false), 'MAP_DUPLICATE_KEY', ['network', 'blobs', net, 'notes']);
  const content = Buffer.from('first line\nsecond line\n');
  assert.equal((await http('PUT', `ref=${blob}&session_id=${session}`, content)).status, 200);
  rec = await pool.call('blob.get_record', blob);
  assert.equal(rec.size, content.length);
  assert.notEqual(rec.last_updated, '19700101T00:00:00Z');
  const got = await http('GET', `ref=${blob}&session_id=${session}`);
  assert.deepEqual([got.status, got.type, got.body.toString()], [200, 'text/plain', content.toString()]);
  // By uuid as well.
  assert.equal((await http('GET', `uuid=${rec.uuid}&session_id=${session}`)).body.toString(), content.toString());
  // Host and pool blobs; an empty mime type is application/octet-stream.
  const hostBlob = await pool.call<string>('host.create_new_blob', pool.master.host, 'h', '', true);
  assert.equal(await pool.call('blob.get_mime_type', hostBlob), 'application/octet-stream');
  const poolRef = (await pool.call<string[]>('pool.get_all'))[0]!;
  const poolBlob = await pool.call<string>('pool.create_new_blob', poolRef, 'p', 'application/json', false);
  assert.deepEqual(await pool.call('pool.get_blobs', poolRef), { p: poolBlob });
  const vm = await pool.call<string>('VM.create', { name_label: 'blob holder', name_description: '' });
  const vmBlob = await pool.call<string>('VM.create_new_blob', vm, 'v', 'text/plain', false);
  assert.deepEqual(await pool.call('VM.get_blobs', vm), { v: vmBlob });
});

test('a session is needed but for reading a public blob; a read-only user may read, not write', async () => {
  const net = await netRef();
  const secret = await pool.call<string>('network.create_new_blob', net, 'secret', 'text/plain', false);
  const open = await pool.call<string>('network.create_new_blob', net, 'open', 'text/plain', true);
  await http('PUT', `ref=${secret}&session_id=${session}`, Buffer.from('s'));
  await http('PUT', `ref=${open}&session_id=${session}`, Buffer.from('o'));
  assert.equal((await http('GET', `ref=${secret}`)).status, 403);
  assert.equal((await http('GET', `ref=${secret}&session_id=OpaqueRef:not-a-session`)).status, 403);
  assert.equal((await http('GET', `ref=${open}`)).body.toString(), 'o');
  assert.equal((await http('PUT', `ref=${open}`, Buffer.from('x'))).status, 403, 'writing needs a session, public or not');
  const viewerSession = viewer.session!;
  assert.equal((await http('GET', `ref=${secret}&session_id=${viewerSession}`)).body.toString(), 's');
  assert.equal((await http('PUT', `ref=${secret}&session_id=${viewerSession}`, Buffer.from('changed'))).status, 403);
  assert.equal((await http('GET', `ref=${secret}&session_id=${session}`)).body.toString(), 's');
  await assertApiError(viewer.call('network.create_new_blob', net, 'mine', '', false), 'RBAC_PERMISSION_DENIED');
});

test('bad requests change nothing: no name, unknown blob, no length, too large, wrong method', async () => {
  const net = await netRef();
  const blob = await pool.call<string>('network.create_new_blob', net, 'bounded', 'text/plain', false);
  await http('PUT', `ref=${blob}&session_id=${session}`, Buffer.from('kept'));
  assert.equal((await http('GET', `session_id=${session}`)).status, 400);
  assert.equal((await http('GET', `ref=OpaqueRef:nothing&session_id=${session}`)).status, 404);
  // Chunked (no Content-Length) is refused, as xapi needs the length.
  assert.equal((await http('PUT', `ref=${blob}&session_id=${session}`, undefined, { 'Transfer-Encoding': 'chunked' })).status, 411);
  // Announced too large: refused before a byte is read.
  assert.equal((await http('PUT', `ref=${blob}&session_id=${session}`, undefined, { 'Content-Length': MAX_BLOB_BYTES + 1 })).status, 413);
  assert.equal((await http('DELETE', `ref=${blob}&session_id=${session}`)).status, 405);
  assert.equal((await http('GET', `ref=${blob}&session_id=${session}`)).body.toString(), 'kept');
  assert.equal(await pool.call('blob.get_size', blob), 4);
  // A large body streams in whole.
  const big = Buffer.alloc(MAX_BLOB_BYTES, 7);
  const bigPut = await http('PUT', `ref=${blob}&session_id=${session}`, big);
  assert.equal(bigPut.status, 200, bigPut.body.toString());
  assert.equal(await pool.call('blob.get_size', blob), MAX_BLOB_BYTES);
  assert.ok((await http('GET', `ref=${blob}&session_id=${session}`)).body.equals(big));
});

test('blob.destroy removes the record, its name in the holder and its content', async () => {
  const net = await netRef();
  const blob = await pool.call<string>('network.create_new_blob', net, 'gone', 'text/plain', false);
  const uuid = await pool.call<string>('blob.get_uuid', blob);
  await http('PUT', `ref=${blob}&session_id=${session}`, Buffer.from('bye'));
  const file = join(pool.stateDir, 'blobs', uuid);
  assert.ok(existsSync(file));
  await assertApiError(viewer.call('blob.destroy', blob), 'RBAC_PERMISSION_DENIED');
  await pool.call('blob.destroy', blob);
  assert.equal(existsSync(file), false);
  assert.equal(Object.hasOwn(await pool.call<object>('network.get_blobs', net), 'gone'), false);
  assert.equal((await http('GET', `ref=${blob}&session_id=${session}`)).status, 404);
  await assertApiError(pool.call('blob.destroy', blob), 'HANDLE_INVALID', ['blob', blob]);
  // A blob made alone (blob.create) is in no holder.
  const lone = await pool.call<string>('blob.create', 'application/octet-stream', false);
  await pool.call('blob.destroy', lone);
});
