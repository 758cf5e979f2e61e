import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, Agent } from 'node:http';
import { connect, Server as NetServer, type Socket } from 'node:net';
import { execFile, execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { ApiError } from '../common/api-error.js';
import { t, type Value } from '../idl/meta.js';
import { startListener, type RpcCall } from './listener.js';
import type { RpcResult } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'xcpnet-rpc-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Called when a test.slow call reaches the handler (a test waits for it to be in flight). */
let slowEntered = (): void => {};

// Echo handler with a few special methods to exercise the error paths.
async function handle(call: RpcCall): Promise<RpcResult> {
  switch (call.method) {
    case 'test.fail': return { ok: false, error: ['VLAN_TAG_INVALID', '5000'] };
    case 'test.throw': throw new Error('boom');
    case 'test.apierror': throw new ApiError('HANDLE_INVALID', ['network', 'OpaqueRef:x']);
    case 'test.void': return { ok: true, value: null, ty: null };
    case 'test.slow': slowEntered(); await new Promise((r) => setTimeout(r, 300)); return { ok: true, value: 'late', ty: t.string };
    case 'test.source': return { ok: true, value: call.source ?? null, ty: t.string };
    case 'test.echoerr': return { ok: false, error: ['INVALID_VALUE', 'name_label', String(call.params[0])] };
    case 'test.big': return { ok: true, value: 'b'.repeat(16 * 1024 * 1024), ty: t.string };
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

test('TCP: JSON-RPC and XML-RPC with exact content types, and no CORS header', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass });
  try {
    assert.ok(l.tcpPort && l.tcpPort > 0);
    const tgt = { port: l.tcpPort };
    const j = await http(tgt, 'POST', '/jsonrpc', jsonCall('a.b', ['x', 1]), { 'Content-Type': 'application/json' });
    assert.equal(j.status, 200);
    assert.equal(j.headers['content-type'], 'application/json');
    assert.equal(j.headers['access-control-allow-origin'], undefined);
    assert.equal(j.body, '{"jsonrpc":"2.0","result":{"method":"a.b","params":["x",1],"protocol":"jsonrpc"},"id":0}');
    assert.equal(jrp.parse(j.body).type, 'response');

    for (const path of ['/', '/xmlrpc', '/RPC2']) {
      const x = await http(tgt, 'POST', path, xmlCall('a.b', '<param><value>x</value></param>'), { 'Content-Type': 'text/xml' });
      assert.equal(x.status, 200);
      assert.equal(x.headers['content-type'], 'text/xml');
      assert.equal(x.headers['access-control-allow-origin'], undefined);
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

test('routing: a CORS preflight is answered and allows nothing; 404, 405', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass });
  try {
    const tgt = { port: l.tcpPort };
    const preflight = { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' };
    for (const path of ['/jsonrpc', '/']) {
      const o = await http(tgt, 'OPTIONS', path, undefined, preflight);
      assert.equal(o.status, 204);
      assert.equal(o.headers.allow, 'POST, OPTIONS');
      assert.deepEqual(Object.keys(o.headers).filter((h) => h.startsWith('access-control-')), [], path);
    }
    // Nor does an actual cross-origin call get one (its reply stays unreadable to the page).
    const j = await http(tgt, 'POST', '/jsonrpc', jsonCall('a.b'), { Origin: 'https://evil.example', 'Content-Type': 'application/json' });
    assert.equal(j.status, 200);
    assert.deepEqual(Object.keys(j.headers).filter((h) => h.startsWith('access-control-')), []);
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

test('slow clients are cut off: silent, trickled headers, trickled body', async () => {
  const l = await startListener({
    tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass, headersTimeoutMs: 200, requestTimeoutMs: 400, timeoutCheckIntervalMs: 50,
  });
  try {
    /** Connects, runs `talk` (which may keep writing), resolves true when the server closes the connection. */
    const cutOff = (talk: (s: Socket) => void) => new Promise<boolean>((resolve) => {
      const s = connect(l.tcpPort!, '127.0.0.1', () => talk(s));
      s.on('data', () => { /* a 408 may arrive */ });
      const timer = setTimeout(() => { s.destroy(); resolve(false); }, 5000);
      s.on('close', () => { clearTimeout(timer); resolve(true); });
      s.on('error', () => { /* reset is fine */ });
    });
    /** Writes one byte of `text` every 20 ms for as long as the connection lasts. */
    const trickle = (text: string) => (s: Socket) => {
      let i = 0;
      const timer = setInterval(() => { if (!s.destroyed) s.write(text[i++ % text.length]!); }, 20);
      s.once('close', () => clearInterval(timer));
    };
    const [silent, headers, body] = await Promise.all([
      // Never sends a byte (node starts the header clock when the connection opens).
      cutOff(() => { /* silence */ }),
      cutOff(trickle('POST /jsonrpc HTTP/1.1\r\nHost: x\r\nX-Pad: ' + 'y'.repeat(10_000))),
      cutOff((s) => { s.write('POST /jsonrpc HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n'); trickle('z')(s); }),
    ]);
    assert.ok(silent, 'a silent connection is dropped');
    assert.ok(headers, 'headers trickled a byte at a time are cut off');
    assert.ok(body, 'a body trickled a byte at a time is cut off');
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
  const inFlight = new Promise<void>((r) => { slowEntered = r; });
  const pending = http({ port: l2.tcpPort }, 'POST', '/jsonrpc', jsonCall('test.slow')).then(() => 'answered', () => 'cut');
  await inFlight;
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
      const transport = transports[name];
      assert.ok(transport, name);
      const call = transport({ url });
      const got = await call('network.get_record', ['OpaqueRef:s', 'OpaqueRef:n']);
      // XML-RPC carries int64 as bare text, so the client sees a string.
      assert.deepEqual(got, name === 'xml-rpc' ? { ...visible, MTU: '1500' } : visible, name);
      const ev = await call('event.from', ['OpaqueRef:s', ['*'], '', 60.1]) as { events: { snapshot: unknown }[]; valid_ref_counts: Record<string, unknown> };
      assert.deepEqual(ev.events[0]?.snapshot, name === 'xml-rpc' ? { ...visible, MTU: '1500' } : visible, name);
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

// --- No client can hold the server (hostile bodies, budgets, caps, deadlines).

/** Sends raw bytes on a fresh connection and collects everything until the server closes it. */
function rawExchange(port: number, data: string, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ port, host: '127.0.0.1', localAddress }, () => s.write(data));
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    s.on('error', reject);
  });
}
const post = (path: string, body: string, extra = '') =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

/** The XenAPI error a reply carries, in either protocol. */
function apiError(r: Reply): string[] {
  if (r.headers['content-type'] === 'application/json') {
    const e = JSON.parse(r.body).error as { message: string; data: string[] };
    return [e.message, ...e.data];
  }
  const m = /<name>ErrorDescription<\/name><value><array><data>(.*)<\/data>/.exec(r.body);
  assert.ok(m, r.body.slice(0, 300));
  return [...m[1]!.matchAll(/<value>([^<]*)<\/value>/g)].map((x) => x[1]!.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"'));
}

test('hostile bodies get a short XenAPI error in their protocol (default limits)', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass });
  try {
    const tgt = { port: l.tcpPort };
    const x1 = (v: string) => xmlCall('a.b', `<param>${v}</param>`);
    const j1 = (v: string) => `{"jsonrpc":"2.0","id":3,"method":"a.b","params":[${v}]}`;
    const cases: [string, string, string, RegExp][] = [
      ['deep JSON, unclosed', '/jsonrpc', j1('['.repeat(250_000)), /nested deeper than 32/],
      ['deep JSON, closed', '/jsonrpc', j1('['.repeat(100_000) + ']'.repeat(100_000)), /nested deeper than 32/],
      ['deep XML, unclosed', '/', x1('<value><array><data>'.repeat(10_000)), /nested deeper than 32/],
      ['unclosed XML tags', '/', '<a>'.repeat(100_000), /expected <methodCall>/],
      ['huge <int>', '/', x1(`<value><int>${'9'.repeat(250_000)}</int></value>`), /longer than/],
      ['huge <double>', '/', x1(`<value><double>${'9'.repeat(1000)}</double></value>`), /<double> longer than 32/],
      ['huge JSON number', '/jsonrpc', j1('9'.repeat(250_000)), /a number longer than 32/],
      ['huge XML array', '/', x1(`<value><array><data>${'<value/>'.repeat(20_000)}</data></array></value>`), /more than 20000 values/],
      ['huge JSON array', '/jsonrpc', j1(`[${'0,'.repeat(60_000)}0]`), /more than 20000 values/],
      ['huge JSON object', '/jsonrpc', j1(`{${Array.from({ length: 26_000 }, (_, i) => `"${i.toString(36)}":0`).join(',')}}`), /more than 20000 values/],
      ['long XML string', '/', x1(`<value>${'s'.repeat(100_000)}</value>`), /longer than 65536/],
      ['long JSON string', '/jsonrpc', j1(`"${'s'.repeat(100_000)}"`), /a string longer than 65536/],
      ['XML garbage', '/', '\u0001\u0002 ' + '#'.repeat(200_000), /expected an element/],
      ['JSON garbage', '/jsonrpc', '{' + '#'.repeat(200_000), /Parse error/],
      ['truncated XML', '/', '<methodCall><methodName>a.b</methodName><params><param><value><struct><member><name>a</name><value>x', /unterminated <value>/],
      ['truncated JSON', '/jsonrpc', j1('{"a":["x"]}').slice(0, -6), /Parse error/],
      ['XML entity flood', '/', x1(`<value>${'&'.repeat(200_000)}</value>`), /bare &/],
      ['DOCTYPE', '/', '<!DOCTYPE m [<!ENTITY a "b">]>' + xmlCall('a'), /DOCTYPE/],
    ];
    for (const [what, path, body, re] of cases) {
      assert.ok(Buffer.byteLength(body) <= 300 * 1024, `${what}: ${Buffer.byteLength(body)} bytes is within the body limit`);
      const r = await http(tgt, 'POST', path, body);
      assert.equal(r.status, 200, what);
      assert.equal(r.headers['content-type'], path === '/jsonrpc' || body.startsWith('{') ? 'application/json' : 'text/xml', what);
      const [code, message = ''] = apiError(r);
      assert.equal(code, 'INTERNAL_ERROR', what);
      assert.match(message, re, what);
      assert.ok(r.body.length <= 1024, `${what}: a reply of ${r.body.length} bytes`);
    }
    // Invalid UTF-8 in a long string: named, and not echoed whole.
    const bad = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"a.b","params":["'), Buffer.alloc(60_000, 'q'), Buffer.from([0xff]), Buffer.from('"]}')]);
    const u = await http(tgt, 'POST', '/jsonrpc', bad);
    assert.deepEqual(apiError(u).slice(0, 2), ['INVALID_VALUE', 'Invalid UTF-8 string in parameter']);
    assert.ok(u.body.length <= 1024, `a reply of ${u.body.length} bytes`);
    // Error parameters a handler builds from the input are cut too.
    const echoed = await http(tgt, 'POST', '/', xmlCall('test.echoerr', `<param><value>${'e'.repeat(60_000)}</value></param>`));
    const [, field, value] = apiError(echoed);
    assert.equal(field, 'name_label');
    assert.equal(value, `${'e'.repeat(1024)}…(60000 characters)`);
    // Bodies beyond 300 KiB: refused before parsing, declared or streamed.
    const big = await http(tgt, 'POST', '/jsonrpc', j1(`"${'s'.repeat(300 * 1024)}"`));
    assert.equal(big.status, 413);
    assert.deepEqual(apiError(big), ['INTERNAL_ERROR', `request body exceeds ${300 * 1024} bytes`]);
    // The largest body accepted still parses and is answered.
    const fill = (n: number) => `"${'f'.repeat(n)}"`;
    const five = (n: number) => j1(Array(5).fill(fill(n)).join(','));
    const largest = five(Math.floor((300 * 1024 - five(0).length) / 5));
    assert.ok(Buffer.byteLength(largest) > 300 * 1024 - 5);
    const ok = await http(tgt, 'POST', '/jsonrpc', largest);
    assert.equal(JSON.parse(ok.body).result.params.length, 5);
  } finally {
    await l.close();
  }
});

test('content types a web form can send are refused; others, or none, are served', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass });
  try {
    const tgt = { port: l.tcpPort };
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'TEXT/PLAIN']) {
      const j = await http(tgt, 'POST', '/jsonrpc', jsonCall('a.b'), { 'Content-Type': type });
      assert.equal(j.status, 415, type);
      assert.equal(j.headers['content-type'], 'application/json');
      assert.match(apiError(j)[1]!, /^Content-Type .* is not accepted: send text\/xml \(XML-RPC\) or application\/json \(JSON-RPC\)$/);
      const x = await http(tgt, 'POST', '/', xmlCall('a.b'), { 'Content-Type': type });
      assert.equal(x.status, 415, type);
      assert.equal(apiError(x)[0], 'INTERNAL_ERROR');
    }
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/json-rpc', 'text/xml', 'application/xml', 'text/xml; charset=utf-8']) {
      const path = type.includes('json') ? '/jsonrpc' : '/';
      const r = await http(tgt, 'POST', path, path === '/jsonrpc' ? jsonCall('a.b') : xmlCall('a.b'), { 'Content-Type': type });
      assert.equal(r.status, 200, type);
      assert.match(r.body, /a\.b/, type);
    }
  } finally {
    await l.close();
  }
});

test('handlers are told who called: the client address, or unix', async () => {
  const path = join(dir, 'source.sock');
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, socketPath: path, handle, lookupClass });
  try {
    assert.equal(JSON.parse((await http({ port: l.tcpPort }, 'POST', '/jsonrpc', jsonCall('test.source'))).body).result, '127.0.0.1');
    assert.equal(JSON.parse((await http({ socketPath: path }, 'POST', '/jsonrpc', jsonCall('test.source'))).body).result, 'unix');
    const other = await rawExchange(l.tcpPort!, post('/jsonrpc', jsonCall('test.source'), 'Connection: close\r\n'), '127.0.0.2');
    assert.match(other, /"result":"127\.0\.0\.2"/);
  } finally {
    await l.close();
  }
});

test('one request at a time per connection: a pipelined request is answered TOO_BUSY', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass });
  try {
    // Both requests in one write: the second is read while the first is still being served.
    const out = await rawExchange(l.tcpPort!, post('/jsonrpc', jsonCall('a.b', [], 1)) + post('/jsonrpc', jsonCall('a.b', [], 2)));
    const replies = out.split(/HTTP\/1\.1 /).filter(Boolean);
    assert.equal(replies.length, 2, out);
    assert.match(replies[0]!, /^200 OK.*"result":\{"method":"a\.b"/s);
    assert.match(replies[1]!, /^200 OK.*Connection: close.*"error":\{"code":1,"message":"TOO_BUSY","data":\[\]\}/s);
    // The connection was closed after that; a new one is served as usual.
    assert.equal((await http({ port: l.tcpPort }, 'POST', '/jsonrpc', jsonCall('a.b'))).status, 200);
  } finally {
    await l.close();
  }
});

test('connections are capped per client address and in total', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass, maxConnectionsPerSource: 2, maxConnections: 3 });
  const open: Socket[] = [];
  /** Opens a connection from `from`; resolves 'open' once a request on it is answered, 'refused' if it is dropped. */
  const attempt = (from: string) => new Promise<'open' | 'refused'>((resolve) => {
    const s = connect({ port: l.tcpPort!, host: '127.0.0.1', localAddress: from }, () => s.write(post('/jsonrpc', jsonCall('a.b'))));
    s.once('data', () => { open.push(s); resolve('open'); });
    s.once('close', () => resolve('refused'));
    s.on('error', () => { /* reset */ });
  });
  try {
    assert.equal(await attempt('127.0.0.1'), 'open');
    assert.equal(await attempt('127.0.0.1'), 'open');
    assert.equal(await attempt('127.0.0.1'), 'refused', 'a third connection from one address');
    assert.equal(await attempt('127.0.0.2'), 'open', 'another address still gets in');
    assert.equal(await attempt('127.0.0.3'), 'refused', 'beyond the total');
    // Places are given back: the server closes one of the first two, and the address may connect again.
    const first = open.shift()!;
    const gone = new Promise((r) => first.once('close', r));
    first.write(post('/jsonrpc', jsonCall('a.b'), 'Connection: close\r\n'));
    await gone;
    assert.equal(await attempt('127.0.0.1'), 'open');
  } finally {
    for (const s of open) s.destroy();
    await l.close();
  }
});

test('large requests share one pool; when it is spent they get TOO_BUSY, and small calls go on', async () => {
  const held: (() => void)[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const allowance = 1024;
  const pool = 30_000;
  const l = await startListener({
    tcp: { host: '127.0.0.1', port: 0 }, lookupClass, bodyAllowanceBytes: allowance, bodyPoolBytes: pool,
    handle: async (call) => {
      if (call.method === 'test.hold') {
        // Only the calls the test waits for are held; any other reaching here fails at once.
        const entered = held.shift();
        if (!entered) return { ok: false, error: ['UNEXPECTED_CALL'] };
        entered();
        await gate;
      }
      return { ok: true, value: call.method, ty: t.string };
    },
  });
  try {
    const tgt = { port: l.tcpPort };
    // A parsed request is charged 4 bytes a character and 80 bytes a value (jsonCall's envelope
    // has 9 values: the object, 4 keys, 3 values, the params array).
    const estimate = (body: string, values: number) => body.length * 4 + (9 + values) * 80;
    const large = jsonCall('test.hold', ['h'.repeat(2950)]);
    const pooled = estimate(large, 1) - allowance;
    assert.ok(2 * pooled <= pool && 3 * pooled > pool, 'two fit in the pool, three do not');
    const inHandler = () => new Promise<void>((r) => held.push(r));
    const a = inHandler();
    const first = http(tgt, 'POST', '/jsonrpc', large);
    await a;
    const b = inHandler();
    const second = http(tgt, 'POST', '/jsonrpc', large);
    await b;
    // Two are held by their waiting handlers. A third is read (its raw body fits) but its parsed
    // form does not: TOO_BUSY, answered to its id.
    const third = await http(tgt, 'POST', '/jsonrpc', large);
    assert.equal(third.status, 200);
    assert.equal(third.body, '{"jsonrpc":"2.0","error":{"code":1,"message":"TOO_BUSY","data":[]},"id":0}');
    // A body whose raw bytes alone do not fit is refused while it is read, and its connection closed.
    const larger = jsonCall('test.hold', ['h'.repeat(9000)]);
    assert.ok(larger.length - allowance > pool - 2 * pooled);
    const refused = await http(tgt, 'POST', '/jsonrpc', larger);
    assert.deepEqual(apiError(refused), ['TOO_BUSY']);
    assert.equal(refused.headers.connection, 'close');
    const x = await http(tgt, 'POST', '/', xmlCall('test.hold', `<param><value>${'h'.repeat(3000)}</value></param>`));
    assert.deepEqual(apiError(x), ['TOO_BUSY']);
    // A small call fits in its allowance and does not draw on the pool at all.
    assert.equal(JSON.parse((await http(tgt, 'POST', '/jsonrpc', jsonCall('a.b'))).body).result, 'a.b');
    release();
    assert.equal(JSON.parse((await first).body).result, 'test.hold');
    assert.equal(JSON.parse((await second).body).result, 'test.hold');
    // Their bytes are back in the pool.
    void inHandler();
    assert.equal(JSON.parse((await http(tgt, 'POST', '/jsonrpc', large)).body).result, 'test.hold');
    // Values are charged, not only bytes: 3 KB of `{},` is 1000 values, more than the whole pool.
    const dense = jsonCall('a.b', [Array(1000).fill({})]);
    assert.ok(dense.length < 4000 && estimate(dense, 1001) > allowance + pool);
    assert.deepEqual(apiError(await http(tgt, 'POST', '/jsonrpc', dense)), ['TOO_BUSY']);
  } finally {
    await l.close();
  }
});

test('a client that stops reading its reply is dropped after the reply timeout', async () => {
  const l = await startListener({ tcp: { host: '127.0.0.1', port: 0 }, handle, lookupClass, replyTimeoutMs: 200 });
  try {
    // Reads one chunk every 10 ms: far too slow for a 16 MiB reply within 200 ms.
    const { received, declared } = await new Promise<{ received: number; declared: number }>((resolve) => {
      let received = 0;
      let head = '';
      const s = connect(l.tcpPort!, '127.0.0.1', () => s.write(post('/jsonrpc', jsonCall('test.big'))));
      s.on('data', (c: Buffer) => {
        if (head === '') {
          head = c.toString('latin1', 0, 300);
          received -= head.indexOf('\r\n\r\n') + 4; // count the body only
        }
        received += c.length;
        s.pause();
        setTimeout(() => s.resume(), 10);
      });
      const done = () => resolve({ received, declared: Number(/Content-Length: (\d+)/i.exec(head)?.[1]) });
      s.once('close', done);
      s.on('error', () => { /* reset */ });
    });
    assert.ok(declared > 16 * 1024 * 1024, `declared ${declared}`);
    assert.ok(received < declared, `received ${received} of ${declared} bytes`);
  } finally {
    await l.close();
  }
});

test('unix socket: bound under umask 0177, so it is never wider than 0600', async () => {
  const path = join(dir, 'mode.sock');
  // Record the socket file's mode the moment listen() returns: bind() has created it by then,
  // and nothing else has had a chance to run (a chmod afterwards would be too late).
  const seen: number[] = [];
  const listen = NetServer.prototype.listen;
  NetServer.prototype.listen = function (this: NetServer, ...args: unknown[]) {
    const r = listen.apply(this, args as Parameters<typeof listen>);
    if (args[0] === path) seen.push(lstatSync(path).mode & 0o777);
    return r;
  } as typeof listen;
  const umask = process.umask(0o000); // the loosest a service manager could start us with
  try {
    const l = await startListener({ socketPath: path, handle, lookupClass });
    try {
      assert.deepEqual(seen, [0o600]);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(statSync(path).uid, process.geteuid?.());
      assert.equal(process.umask(0o000), 0o000, 'the process umask is restored');
    } finally {
      await l.close();
    }
  } finally {
    NetServer.prototype.listen = listen;
    process.umask(umask);
  }
});
