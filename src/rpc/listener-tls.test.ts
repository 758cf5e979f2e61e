// The listener over TLS: the same server behind a handshake, with the same deadlines and caps.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { lstatSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { t, type Value } from '../idl/meta.js';
import { fingerprintOf, loadOrCreateCertificate } from '../server/certificate.js';
import { startListener, type RpcCall } from './listener.js';
import type { RpcResult } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'xcpnet-tls-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function handle(call: RpcCall): Promise<RpcResult> {
  return { ok: true, value: call.method === 'test.source' ? call.source ?? null : call.method, ty: t.string };
}
const lookupClass = () => undefined;
const post = (path: string, body: string, extra = '') =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const jsonCall = (method: string, params: Value[] = []) => JSON.stringify({ id: 0, jsonrpc: '2.0', method, params });

test('TLS: the same server behind a handshake, with the same deadlines, caps and limits; the certificate is replaced live', async () => {
  const certIn = (d: string) => { mkdirSync(join(dir, d)); return loadOrCreateCertificate(join(dir, d), ['localhost'], ['127.0.0.1']); };
  const [first, second] = [certIn('tls-a'), certIn('tls-b')];
  const l = await startListener({
    tcp: { host: '127.0.0.1', port: 0 }, tls: first, handle, lookupClass, maxBodyBytes: 1000,
    maxConnectionsPerSource: 2, headersTimeoutMs: 200, requestTimeoutMs: 400, timeoutCheckIntervalMs: 50,
  });
  const open: TLSSocket[] = [];
  try {
    assert.equal(l.tls, true);
    /** A TLS connection; `send` is written once it is up; resolves with what came back before the close, or the fingerprint. */
    const session = (send: string | undefined, keep = false) => new Promise<{ fp: string; reply: string; closed: boolean }>((resolve) => {
      let reply = '';
      let fp = '';
      const s = tlsConnect({ port: l.tcpPort!, host: '127.0.0.1', ca: [first.cert, second.cert], servername: 'localhost' }, () => {
        fp = s.getPeerCertificate().fingerprint256;
        if (send !== undefined) s.write(send);
        if (keep) { open.push(s); s.once('data', (d) => resolve({ fp, reply: String(d), closed: false })); }
      });
      s.on('data', (d) => { reply += String(d); });
      const timer = setTimeout(() => { s.destroy(); resolve({ fp, reply, closed: false }); }, 5000);
      s.once('close', () => { clearTimeout(timer); resolve({ fp, reply, closed: true }); });
      s.on('error', () => { /* reset */ });
    });
    // Handshaken, then silent, or trickling its headers: dropped at the headers' deadline.
    assert.equal((await session(undefined)).closed, true);
    const trickled = await new Promise<boolean>((resolve) => {
      const text = 'POST /jsonrpc HTTP/1.1\r\nHost: x\r\nX-Pad: ' + 'y'.repeat(10_000);
      let i = 0;
      let interval: NodeJS.Timeout | undefined;
      const s = tlsConnect({ port: l.tcpPort!, host: '127.0.0.1', ca: first.cert, servername: 'localhost' }, () => {
        interval = setInterval(() => { if (!s.destroyed) s.write(text[i++ % text.length]!); }, 20);
      });
      const timer = setTimeout(() => { s.destroy(); resolve(false); }, 5000);
      s.once('close', () => { clearInterval(interval); clearTimeout(timer); resolve(true); });
      s.on('error', () => { /* reset */ });
    });
    assert.ok(trickled, 'headers trickled over TLS are cut off');
    const ok = await session(post('/jsonrpc', jsonCall('test.source'), 'Connection: close\r\n'));
    assert.match(ok.reply, /^HTTP\/1\.1 200 /);
    assert.ok(ok.reply.includes('"result":"127.0.0.1"'), 'the handler sees the client address');
    const big = await session(post('/jsonrpc', jsonCall('x', ['y'.repeat(2000)])));
    assert.match(big.reply, /^HTTP\/1\.1 413 /);
    // No handshake at all: dropped at the headers' deadline.
    const silent = await new Promise<boolean>((resolve) => {
      const s = connect(l.tcpPort!, '127.0.0.1');
      const timer = setTimeout(() => { s.destroy(); resolve(false); }, 5000);
      s.on('close', () => { clearTimeout(timer); resolve(true); });
      s.on('error', () => { /* reset */ });
    });
    assert.ok(silent, 'a connection that never shakes hands is dropped');
    assert.equal((await session(post('/jsonrpc', jsonCall('a.b'), 'Connection: close\r\n'))).fp, fingerprintOf(first.cert));
    l.setCertificate(second);
    assert.equal((await session(post('/jsonrpc', jsonCall('a.b'), 'Connection: close\r\n'))).fp, fingerprintOf(second.cert));
    // Two connections from one address are the cap.
    await session(post('/jsonrpc', jsonCall('a.b')), true);
    await session(post('/jsonrpc', jsonCall('a.b')), true);
    assert.equal((await session(post('/jsonrpc', jsonCall('a.b')))).reply, '', 'a third is dropped unanswered');
  } finally {
    for (const s of open) s.destroy();
    await l.close();
  }
});

test('the HTTPS unix socket: TLS as on TCP (replaced live too), calls from 127.0.0.1, pages served; the trusted socket stays plain and "unix"', async () => {
  const certIn = (d: string) => { mkdirSync(join(dir, d)); return loadOrCreateCertificate(join(dir, d), ['localhost'], ['127.0.0.1']); };
  const [first, second] = [certIn('https-sock-a'), certIn('https-sock-b')];
  const httpsSocketPath = join(dir, 'https.sock');
  const socketPath = join(dir, 'xapi.sock');
  const l = await startListener({
    socketPath, httpsSocketPath, tls: first, handle, lookupClass,
    pages: (req) => req.path === '/page' ? { status: 200, type: 'text/plain', body: 'page\n' } : undefined,
  });
  /** One request over TLS on the HTTPS socket: the reply's text and the certificate's fingerprint. */
  const overTls = (request: string) => new Promise<{ fp: string; reply: string }>((resolve, reject) => {
    let reply = '';
    let fp = '';
    const s = tlsConnect({ path: httpsSocketPath, ca: [first.cert, second.cert], servername: 'localhost' }, () => {
      fp = s.getPeerCertificate().fingerprint256;
      s.write(request);
    });
    s.on('data', (d) => { reply += String(d); });
    s.once('close', () => resolve({ fp, reply }));
    s.once('error', reject);
  });
  /** One request in clear on a unix socket: what came back before the close (or an error, or 2 s of silence). */
  const plain = (path: string, request: string) => new Promise<string>((resolve) => {
    let reply = '';
    const s = connect(path, () => s.write(request));
    const timer = setTimeout(() => s.destroy(), 2000);
    s.on('data', (d) => { reply += String(d); });
    s.once('close', () => { clearTimeout(timer); resolve(reply); });
    s.on('error', () => { /* reset */ });
  });
  try {
    assert.equal(l.tls, true);
    const call = await overTls(post('/jsonrpc', jsonCall('test.source'), 'Connection: close\r\n'));
    assert.match(call.reply, /^HTTP\/1\.1 200 /);
    assert.ok(call.reply.includes('"result":"127.0.0.1"'), `calls through the HTTPS socket are from 127.0.0.1, never the trusted "unix": ${call.reply}`);
    assert.equal(call.fp, fingerprintOf(first.cert));
    const page = await overTls('GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(page.reply, /^HTTP\/1\.1 200 [^]*\r\n\r\npage\n$/);
    l.setCertificate(second);
    assert.equal((await overTls(post('/jsonrpc', jsonCall('a.b'), 'Connection: close\r\n'))).fp, fingerprintOf(second.cert));
    // Plain HTTP on the HTTPS socket gets no answer.
    assert.doesNotMatch(await plain(httpsSocketPath, post('/jsonrpc', jsonCall('a.b'), 'Connection: close\r\n')), /"result"/);
    // The trusted socket is unchanged: plain HTTP, its calls marked "unix", no pages.
    const trusted = await plain(socketPath, post('/jsonrpc', jsonCall('test.source'), 'Connection: close\r\n'));
    assert.ok(trusted.includes('"result":"unix"'), trusted);
    assert.match(await plain(socketPath, 'GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 404 /);
  } finally {
    await l.close();
  }
  assert.throws(() => lstatSync(httpsSocketPath), /ENOENT/, 'close() removes the HTTPS socket');
  await assert.rejects(startListener({ socketPath, httpsSocketPath, handle, lookupClass }), /needs tls/);
});
