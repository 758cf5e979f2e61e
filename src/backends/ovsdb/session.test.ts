// Session against a scripted fake server on a unix socket: wire behaviour only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Session, parseTarget } from './session.js';
import { JsonFramer } from './framer.js';
import { OvsdbError } from './errors.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'xcpt-ovsdb-sess-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

interface Fake {
  server: Server;
  path: string;
  conns: Socket[];
  received: unknown[];
  close(): Promise<void>;
}

/** A server that hands every received message to `onMsg`, which may reply via `send`. */
async function fake(name: string, onMsg: (m: Record<string, unknown>, send: (x: unknown) => void, sock: Socket) => void): Promise<Fake> {
  const path = join(dir, name);
  const f: Fake = { server: createServer(), path, conns: [], received: [], close: async () => {} };
  f.server.on('connection', (sock) => {
    f.conns.push(sock);
    const fr = new JsonFramer();
    sock.on('data', (d) => {
      for (const m of fr.push(d)) {
        f.received.push(m);
        onMsg(m as Record<string, unknown>, (x) => sock.write(typeof x === 'string' ? x : JSON.stringify(x)), sock);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => f.server.listen(path, r));
  f.close = async () => {
    for (const c of f.conns) c.destroy();
    await new Promise<void>((r) => f.server.close(() => r()));
  };
  return f;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('parseTarget', () => {
  assert.deepEqual(parseTarget('unix:/a/b.sock'), { kind: 'unix', path: '/a/b.sock' });
  assert.deepEqual(parseTarget('tcp:127.0.0.1:6640'), { kind: 'tcp', host: '127.0.0.1', port: 6640 });
  assert.deepEqual(parseTarget('tcp:[::1]:6640'), { kind: 'tcp', host: '::1', port: 6640 });
  assert.deepEqual(parseTarget('ssl:1.2.3.4:6640'), { kind: 'ssl', host: '1.2.3.4', port: 6640 });
  assert.throws(() => parseTarget('tls:1.2.3.4:6640'), TypeError);
  assert.throws(() => parseTarget('tcp:host:0'), TypeError);
});

test('replies are matched by id even out of order and split across writes; notifications dispatched', async () => {
  const held: Record<string, unknown>[] = [];
  const f = await fake('a.sock', (m, send) => {
    held.push(m);
    if (held.length === 2) {
      // Answer the second request first, with a notification in between, byte-split.
      const text = JSON.stringify({ id: held[1]!.id, result: 'second', error: null }) +
        JSON.stringify({ id: null, method: 'update2', params: ['m1', { T: {} }] }) +
        JSON.stringify({ id: held[0]!.id, result: ['first', 'é'], error: null });
      let i = 0;
      const step = () => { if (i < text.length) { send(text.slice(i, i + 7)); i += 7; setTimeout(step, 1); } };
      step();
    }
  });
  const s = await Session.open(`unix:${f.path}`, { probeIntervalMs: 0 });
  const notes: unknown[] = [];
  s.onNotification((method, params) => notes.push([method, params]));
  try {
    const [a, b] = await Promise.all([s.request('one', []), s.request('two', [1])]);
    assert.deepEqual(a, ['first', 'é']);
    assert.equal(b, 'second');
    assert.deepEqual(notes, [['update2', ['m1', { T: {} }]]]);
  } finally {
    s.close();
    await f.close();
  }
});

test("the server's echo request is answered with the same params and id", async () => {
  let reply: unknown;
  const f = await fake('b.sock', (m) => { if (m.id === 'echo') reply = m; });
  const s = await Session.open(`unix:${f.path}`, { probeIntervalMs: 0 });
  try {
    f.conns[0]!.write(JSON.stringify({ method: 'echo', params: ['x', 1], id: 'echo' }));
    for (let i = 0; i < 100 && !reply; i++) await wait(10);
    assert.deepEqual(reply, { id: 'echo', result: ['x', 1], error: null });
    assert.equal(s.stats.echoesAnswered, 1);
  } finally {
    s.close();
    await f.close();
  }
});

test('server errors and timeouts are typed', async () => {
  const f = await fake('c.sock', (m, send) => {
    if (m.method === 'bad') send({ id: m.id, result: null, error: { error: 'unknown database', details: 'x' } });
  });
  const s = await Session.open(`unix:${f.path}`, { probeIntervalMs: 0 });
  try {
    await assert.rejects(s.request('bad', []), (e) => OvsdbError.is(e, 'unknown-database') && e.details === 'x');
    await assert.rejects(s.request('silent', [], { timeoutMs: 50 }), (e) => OvsdbError.is(e, 'request-timeout'));
  } finally {
    s.close();
    await f.close();
  }
  await assert.rejects(s.request('after-close', []), (e) => OvsdbError.is(e, 'closed'));
});

test('a lost connection fails pending calls, reconnects, and runs the reconnect hooks', async () => {
  const f = await fake('d.sock', (m, send) => { if (m.method === 'ping') send({ id: m.id, result: 'pong', error: null }); });
  const s = await Session.open(`unix:${f.path}`, { probeIntervalMs: 0, backoff: { minBackoffMs: 10, maxBackoffMs: 40 } });
  let hooks = 0;
  const states: boolean[] = [];
  s.onReconnect(async () => { hooks++; assert.equal(await s.request('ping', []), 'pong', 'hooks may use the session'); });
  s.onState((up) => states.push(up));
  try {
    const pending = s.request('hang', []);
    // the call is on the wire when the connection drops
    for (let i = 0; i < 200 && !f.received.some((m) => (m as { method?: string }).method === 'hang'); i++) await wait(5);
    f.conns[0]!.destroy();
    await assert.rejects(pending, (e) => OvsdbError.is(e, 'disconnected') && e.method === 'hang');
    await s.waitConnected(2000);
    for (let i = 0; i < 100 && !states.includes(true); i++) await wait(10);
    assert.equal(hooks, 1);
    assert.deepEqual(states, [false, true]);
    assert.equal(s.stats.connects, 2);
    assert.equal(await s.request('ping', []), 'pong');
  } finally {
    s.close();
    await f.close();
  }
});

test('our probe drops a connection whose server went silent', async () => {
  const f = await fake('e.sock', () => { /* never answers anything */ });
  const s = await Session.open(`unix:${f.path}`, { probeIntervalMs: 40, reconnect: false });
  try {
    for (let i = 0; i < 100 && s.connected; i++) await wait(10);
    assert.equal(s.connected, false);
    assert.ok(s.stats.probesSent >= 1);
    assert.ok(f.received.some((m) => (m as { method?: string }).method === 'echo'), 'the probe is an echo request');
  } finally {
    s.close();
    await f.close();
  }
});

test('first connect: fails typed without a server, or keeps retrying within connectTimeoutMs', async () => {
  const path = join(dir, 'late.sock');
  await assert.rejects(Session.open(`unix:${path}`), (e) => OvsdbError.is(e, 'disconnected'));
  const opening = Session.open(`unix:${path}`, { probeIntervalMs: 0, connectTimeoutMs: 3000, backoff: { minBackoffMs: 20, maxBackoffMs: 50 } });
  await wait(150);
  const f = await fake('late.sock', () => {});
  const s = await opening;
  assert.equal(s.connected, true);
  s.close();
  await f.close();
});
