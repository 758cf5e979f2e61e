import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, Agent } from 'node:http';
import { connect } from 'node:net';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { ApiError } from '../common/api-error.js';
import { t, type Value } from '../idl/meta.js';
import { startListener, type RpcCall } from './listener.js';
import type { RpcResult } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'xcpnet-rpc-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Echo handler with a few special methods to exercise the error paths.
async function handle(call: RpcCall): Promise<RpcResult> {
  switch (call.method) {
    case 'test.fail': return { ok: false, error: ['VLAN_TAG_INVALID', '5000'] };
    case 'test.throw': throw new Error('boom');
    case 'test.apierror': throw new ApiError('HANDLE_INVALID', ['network', 'OpaqueRef:x']);
    case 'test.void': return { ok: true, value: null, ty: null };
    case 'test.slow': await new Promise((r) => setTimeout(r, 300)); return { ok: true, value: 'late', ty: t.string };
    default: return { ok: true, value: { method: call.method, params: call.params, protocol: call.protocol }, ty: t.any };
  }
}
const lookupClass = () => undefined;

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }
function http(target: { port?: number; socketPath?: string }, method: string, path: string, body?: string | Buffer,
  headers: Record<string, string> = {}, agent?: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', ...target, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body); else req.end();
  });
}
const xmlCall = (method: string, params = '') =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params}</params></methodCall>`;
const jsonCall = (method: string, params: Value[] = [], id: number | string = 0) =>
  JSON.stringify({ id, jsonrpc: '2.0', method, params });

// json-rpc-protocol is what xen-api parses replies with: it tells us whether a reply is usable.
const require = createRequire(import.meta.url);
const jrp = require('json-rpc-protocol') as { parse: (s: string) => { type: string; error?: { message: string; data?: unknown } } };

test('TCP: JSON-RPC and XML-RPC with exact content types and CORS', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass });
  try {
    assert.ok(l.tcpPort && l.tcpPort > 0);
    const tgt = { port: l.tcpPort };
    const j = await http(tgt, 'POST', '/jsonrpc', jsonCall('a.b', ['x', 1]), { 'Content-Type': 'application/json' });
    assert.equal(j.status, 200);
    assert.equal(j.headers['content-type'], 'application/json');
    assert.equal(j.headers['access-control-allow-origin'], '*');
    assert.equal(j.body, '{"jsonrpc":"2.0","result":{"method":"a.b","params":["x",1],"protocol":"jsonrpc"},"id":0}');
    assert.equal(jrp.parse(j.body).type, 'response');

    for (const path of ['/', '/xmlrpc', '/RPC2']) {
      const x = await http(tgt, 'POST', path, xmlCall('a.b', '<param><value>x</value></param>'), { 'Content-Type': 'text/xml' });
      assert.equal(x.status, 200);
      assert.equal(x.headers['content-type'], 'text/xml');
      assert.equal(x.headers['access-control-allow-origin'], '*');
      assert.equal(x.body, '<?xml version="1.0"?><methodResponse><params><param><value><struct>' +
        '<member><name>Status</name><value>Success</value></member><member><name>Value</name><value><struct>' +
        '<member><name>method</name><value>a.b</value></member><member><name>params</name><value><array><data><value>x</value></data></array></value></member>' +
        '<member><name>protocol</name><value>xmlrpc</value></member></struct></value></member></struct></value></param></params></methodResponse>');
    }
    // JSON posted to an XML-RPC path is answered as JSON.
    const sniff = await http(tgt, 'POST', '/', jsonCall('a.b'), { 'Content-Type': 'application/json' });
    assert.equal(sniff.headers['content-type'], 'application/json');
    assert.equal(JSON.parse(sniff.body).result.protocol, 'jsonrpc');
    // Query strings don't change the route.
    assert.equal((await http(tgt, 'POST', '/jsonrpc?x=1', jsonCall('a.b'))).status, 200);
  } finally {
    await l.close();
  }
});

test('API errors are HTTP 200 in both protocols; throwing handlers give INTERNAL_ERROR and serving goes on', async () => {
  const errors: unknown[] = [];
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass, onError: (e) => errors.push(e) });
  try {
    const tgt = { port: l.tcpPort };
    const j = await http(tgt, 'POST', '/jsonrpc', jsonCall('test.fail'));
    assert.equal(j.status, 200);
    assert.equal(j.body, '{"jsonrpc":"2.0","error":{"code":1,"message":"VLAN_TAG_INVALID","data":["5000"]},"id":0}');
    const x = await http(tgt, 'POST', '/', xmlCall('test.fail'));
    assert.equal(x.status, 200);
    assert.match(x.body, /<value>Failure<\/value>.*<value>VLAN_TAG_INVALID<\/value><value>5000<\/value>/);

    const thrown = await http(tgt, 'POST', '/jsonrpc', jsonCall('test.throw'));
    assert.equal(thrown.status, 200);
    assert.deepEqual(JSON.parse(thrown.body).error, { code: 1, message: 'INTERNAL_ERROR', data: ['boom'] });
    const thrownX = await http(tgt, 'POST', '/', xmlCall('test.throw'));
    assert.match(thrownX.body, /<value>INTERNAL_ERROR<\/value><value>boom<\/value>/);
    assert.equal(errors.length, 2);
    // An ApiError thrown by a handler keeps its code and is not reported as unexpected.
    const api = await http(tgt, 'POST', '/jsonrpc', jsonCall('test.apierror'));
    assert.deepEqual(JSON.parse(api.body).error, { code: 1, message: 'HANDLE_INVALID', data: ['network', 'OpaqueRef:x'] });
    assert.equal(errors.length, 2);

    const v = await http(tgt, 'POST', '/', xmlCall('test.void'));
    assert.match(v.body, /<name>Value<\/name><value><\/value>/);
    const again = await http(tgt, 'POST', '/jsonrpc', jsonCall('a.b'));
    assert.equal(JSON.parse(again.body).result.method, 'a.b');
  } finally {
    await l.close();
  }
});

test('malformed bodies get error replies, not crashes', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass });
  try {
    const tgt = { port: l.tcpPort };
    for (const body of ['', '<methodCall><methodName>a</methodName>', 'garbage', '<methodCall><params/></methodCall>']) {
      const r = await http(tgt, 'POST', '/', body);
      assert.equal(r.status, 200, body);
      assert.equal(r.headers['content-type'], 'text/xml');
      assert.match(r.body, /^<\?xml version="1.0"\?><methodResponse>.*<value>Failure<\/value>.*<value>INTERNAL_ERROR<\/value><value>[^<]+<\/value><\/data>/, body);
    }
    for (const body of ['{', '{"jsonrpc":"2.0","method":"a"}', '[1,2]', 'nope', '']) {
      const r = await http(tgt, 'POST', '/jsonrpc', body);
      assert.equal(r.status, 200, body);
      assert.equal(r.headers['content-type'], 'application/json');
      const parsed = jrp.parse(r.body);
      assert.equal(parsed.type, 'error', body);
      assert.equal(parsed.error?.message, 'INTERNAL_ERROR');
    }
    // 1.0 request whose envelope is broken after the id is known: answered in 1.0 form.
    const r10 = await http(tgt, 'POST', '/jsonrpc', '{"id":5,"params":[]}');
    assert.deepEqual(JSON.parse(r10.body), { result: null, error: ['INTERNAL_ERROR', 'Invalid Request: missing method'], id: 5 });
    // Invalid UTF-8 inside a parameter.
    const badUtf8 = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"a.b","params":["ok","x'), Buffer.from([0xff, 0xfe]), Buffer.from('"]}')]);
    const u = JSON.parse((await http(tgt, 'POST', '/jsonrpc', badUtf8)).body);
    assert.equal(u.error.message, 'INVALID_VALUE');
    assert.equal(u.error.data[0], 'Invalid UTF-8 string in parameter');
  } finally {
    await l.close();
  }
});

test('routing: OPTIONS, 404, 405', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass });
  try {
    const tgt = { port: l.tcpPort };
    const o = await http(tgt, 'OPTIONS', '/jsonrpc', undefined, { 'Access-Control-Request-Headers': 'content-type' });
    assert.equal(o.status, 200);
    assert.equal(o.headers['access-control-allow-origin'], '*');
    assert.match(String(o.headers['access-control-allow-methods']), /POST/);
    assert.equal(o.headers['access-control-allow-headers'], 'content-type');
    assert.equal((await http(tgt, 'OPTIONS', '/')).status, 200);
    assert.equal((await http(tgt, 'POST', '/nope', '{}')).status, 404);
    assert.equal((await http(tgt, 'POST', '/json', '{}')).status, 404);
    assert.equal((await http(tgt, 'GET', '/jsonrpc')).status, 405);
  } finally {
    await l.close();
  }
});

test('oversized bodies are refused without being buffered', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass, maxBodyBytes: 1024 });
  try {
    const tgt = { port: l.tcpPort };
    // Declared too large: refused before reading.
    const big = await http(tgt, 'POST', '/jsonrpc', 'x'.repeat(4096));
    assert.equal(big.status, 413);
    assert.equal(JSON.parse(big.body).error.message, 'INTERNAL_ERROR');
    // Chunked (no length): stopped once the limit is crossed. The client may see the 413 or a reset.
    const streamed = await new Promise<number | string>((resolve) => {
      const req = request({ host: '127.0.0.1', port: l.tcpPort, method: 'POST', path: '/' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? 'error'));
      let sent = 0;
      const pump = () => {
        while (sent < 1024 * 1024) {
          sent += 512;
          if (!req.write('y'.repeat(512))) { req.once('drain', pump); return; }
        }
        req.end();
      };
      pump();
    });
    assert.ok(streamed === 413 || streamed === 'ECONNRESET' || streamed === 'EPIPE', String(streamed));
    // Just under the limit is fine, and the server still serves.
    const okBody = jsonCall('a.b', ['z'.repeat(900)]);
    assert.equal((await http(tgt, 'POST', '/jsonrpc', okBody)).status, 200);
  } finally {
    await l.close();
  }
});

test('slow clients are cut off by the header timeout', async () => {
  const l = await startListener({
    tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass, headersTimeoutMs: 200, requestTimeoutMs: 400, timeoutCheckIntervalMs: 50,
  });
  try {
    const started = Date.now();
    const closed = await new Promise<boolean>((resolve) => {
      const s = connect(l.tcpPort!, '127.0.0.1', () => s.write('POST /jsonrpc HTTP/1.1\r\nHost: x\r\n'));
      s.on('data', () => { /* a 408 may arrive */ });
      const timer = setTimeout(() => { s.destroy(); resolve(false); }, 5000);
      s.on('close', () => { clearTimeout(timer); resolve(true); });
      s.on('error', () => { /* reset is fine */ });
    });
    assert.ok(closed, 'server should drop a client that never finishes its headers');
    assert.ok(Date.now() - started < 5000);
  } finally {
    await l.close();
  }
});

test('close() ends idle keep-alive connections and in-flight ones after the grace period', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass, closeGraceMs: 100 });
  const agent = new Agent({ keepAlive: true });
  try {
    const r = await http({ port: l.tcpPort }, 'POST', '/jsonrpc', jsonCall('a.b'), {}, agent);
    assert.equal(r.headers.connection, 'keep-alive');
  } finally {
    const t0 = Date.now();
    await l.close();
    assert.ok(Date.now() - t0 < 1000, 'close() should not wait for the keep-alive timeout');
    agent.destroy();
  }
  // An in-flight call longer than the grace period is cut.
  const l2 = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass, closeGraceMs: 50 });
  const pending = http({ port: l2.tcpPort }, 'POST', '/jsonrpc', jsonCall('test.slow')).then(() => 'answered', () => 'cut');
  await new Promise((r) => setTimeout(r, 50));
  const t1 = Date.now();
  await l2.close();
  assert.ok(Date.now() - t1 < 250);
  assert.equal(await pending, 'cut');
});

test('unix socket: served, mode 0600, stale socket replaced, other files left alone', async () => {
  const path = join(dir, 'xapi.sock');
  // A stale socket file from a dead server: bound, never listened on, left behind.
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
  assert.ok(statSync(path).isSocket());
  const l = await startListener({ socketPath: path, tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass });
  try {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(l.socketPath, path);
    const j = await http({ socketPath: path }, 'POST', '/jsonrpc', jsonCall('a.b', [1]));
    assert.equal(j.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(j.body).result, { method: 'a.b', params: [1], protocol: 'jsonrpc' });
    const x = await http({ socketPath: path }, 'POST', '/', xmlCall('a.b'));
    assert.equal(x.headers['content-type'], 'text/xml');
    // Both endpoints live at once.
    assert.equal((await http({ port: l.tcpPort }, 'POST', '/jsonrpc', jsonCall('a.b'))).status, 200);
    // A second listener on a live socket is refused.
    await assert.rejects(startListener({ socketPath: path, handle, lookupClass }), /another server is listening/);
    // …and leaves the live server's socket alone.
    assert.ok(existsSync(path));
    assert.equal((await http({ socketPath: path }, 'POST', '/jsonrpc', jsonCall('a.b'))).status, 200);
  } finally {
    await l.close();
  }
  assert.ok(!existsSync(path), 'socket file removed on close');
  const regular = join(dir, 'not-a-socket');
  writeFileSync(regular, 'keep me');
  await assert.rejects(startListener({ socketPath: regular, handle, lookupClass }), /not a socket/);
  assert.ok(existsSync(regular));
});

test("Python's xmlrpc.client talks to the listener", async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass });
  try {
    const script = [
      'import json, sys, xmlrpc.client',
      'p = xmlrpc.client.ServerProxy(sys.argv[1])',
      "ok = p.VLAN.create('OpaqueRef:s', 'OpaqueRef:p', 20, {'name_label': 'a & b'}, True, 1.5)",
      "bad = p.test.fail('OpaqueRef:s')",
      'empty = p.test.void()',
      'print(json.dumps([ok, bad, empty]))',
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) => {
      execFile('python3', ['-c', script, `http://127.0.0.1:${l.tcpPort}/`], { timeout: 20_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`)); else resolve(stdout);
      });
    });
    assert.deepEqual(JSON.parse(out), [
      // The int 20 travels back as bare text: a string to Python, as with real XAPI.
      { Status: 'Success', Value: { method: 'VLAN.create', params: ['OpaqueRef:s', 'OpaqueRef:p', '20', { name_label: 'a & b' }, true, 1.5], protocol: 'xmlrpc' } },
      { Status: 'Failure', ErrorDescription: ['VLAN_TAG_INVALID', '5000'] },
      { Status: 'Success', Value: '' },
    ]);
  } finally {
    await l.close();
  }
});

test("xen-api's own transports (JSON-RPC, XML-RPC, auto) parse our replies", async () => {
  const net = {
    name: 'network', doc: '', messages: [], persistent: true,
    fields: [
      { name: 'uuid', ty: t.string, qual: 'DynamicRO' as const, doc: '' },
      { name: 'MTU', ty: t.int, qual: 'RW' as const, doc: '' },
      { name: 'other_config', ty: t.map(t.string, t.string), qual: 'RW' as const, doc: '' },
      { name: 'hidden', ty: t.string, qual: 'RW' as const, doc: '', internal: true },
    ],
  };
  const rec = { uuid: 'u', MTU: 1500, other_config: { a: '' }, hidden: 'x' };
  const l = await startListener({
    tcp: { host: '127.0.0.1', port: 0 },
    lookupClass: (n) => (n === 'network' ? net : undefined),
    handle: async (call) => {
      if (call.method === 'network.get_record') return { ok: true, value: rec, ty: t.record('network') };
      if (call.method === 'event.from') {
        return { ok: true, value: { events: [{ id: '1', class: 'network', operation: 'add', ref: 'OpaqueRef:n', snapshot: rec }], valid_ref_counts: { network: 1 }, token: '1' }, ty: t.any };
      }
      if (call.method === 'test.fail') return { ok: false, error: ['HANDLE_INVALID', 'network', 'OpaqueRef:bogus'] };
      return { ok: true, value: call.params, ty: t.any };
    },
  });
  const spec = 'xen-api/transports/index.mjs';
  const transports = (await import(spec)).default as Record<string, (o: { url: Record<string, string> }) => (m: string, a: unknown[]) => Promise<unknown>>;
  try {
    // xen-api passes its own parsed-URL object (it Object.assigns it onto a URL).
    const url = { protocol: 'http:', hostname: '127.0.0.1', port: String(l.tcpPort), pathname: '/' };
    const visible = { uuid: 'u', MTU: 1500, other_config: { a: '' } };
    for (const name of ['json-rpc', 'xml-rpc', 'auto']) {
      const call = transports[name]({ url });
      const got = await call('network.get_record', ['OpaqueRef:s', 'OpaqueRef:n']);
      // XML-RPC carries int64 as bare text, so the client sees a string.
      assert.deepEqual(got, name === 'xml-rpc' ? { ...visible, MTU: '1500' } : visible, name);
      const ev = await call('event.from', ['OpaqueRef:s', ['*'], '', 60.1]) as { events: { snapshot: unknown }[]; valid_ref_counts: Record<string, unknown> };
      assert.deepEqual(ev.events[0].snapshot, name === 'xml-rpc' ? { ...visible, MTU: '1500' } : visible, name);
      assert.equal(ev.valid_ref_counts.network, 1, name);
      await assert.rejects(call('test.fail', ['OpaqueRef:s']), (e: { code?: string; params?: unknown }) => {
        assert.equal(e.code, 'HANDLE_INVALID');
        assert.deepEqual(e.params, ['network', 'OpaqueRef:bogus']);
        return true;
      }, name);
      assert.deepEqual(await call('a.b', ['x', 100, 60.1, true, { k: 'v' }]),
        name === 'xml-rpc' ? ['x', '100', 60.1, true, { k: 'v' }] : ['x', 100, 60.1, true, { k: 'v' }], name);
    }
  } finally {
    await l.close();
  }
});
