// The listener over TLS: the same server behind a handshake, with the same deadlines and caps.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
