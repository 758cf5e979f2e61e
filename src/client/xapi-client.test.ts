import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../common/api-error.js';
import { XapiClient, decodeReply, parseTarget } from './xapi-client.js';

test('targets: unix sockets and http', () => {
  assert.deepEqual(parseTarget('unix:/run/x.sock'), { socketPath: '/run/x.sock', path: '/jsonrpc' });
  assert.deepEqual(parseTarget('http://127.0.0.1:8080'), { tls: false, host: '127.0.0.1', port: 8080, path: '/jsonrpc' });
  assert.deepEqual(parseTarget('https://[::1]'), { tls: true, host: '::1', port: 443, path: '/jsonrpc' });
  assert.deepEqual(parseTarget('http://h'), { tls: false, host: 'h', port: 80, path: '/jsonrpc' });
  assert.deepEqual(parseTarget('localhost:81'), { tls: false, host: 'localhost', port: 81, path: '/jsonrpc' });
});

test('replies: results, 2.0 and 1.0 XenAPI errors, protocol errors', () => {
  assert.equal(decodeReply('m', '{"jsonrpc":"2.0","result":"x","id":1}'), 'x');
  assert.throws(() => decodeReply('m', '{"jsonrpc":"2.0","error":{"code":1,"message":"UUID_INVALID","data":["network","u"]},"id":1}'),
    (e: unknown) => ApiError.is(e, 'UUID_INVALID') && (e as ApiError).params.join() === 'network,u');
  assert.throws(() => decodeReply('m', '{"result":null,"error":["HANDLE_INVALID","VIF","r"],"id":1}'),
    (e: unknown) => ApiError.is(e, 'HANDLE_INVALID') && (e as ApiError).params.length === 2);
  assert.throws(() => decodeReply('m', '{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}'),
    (e: unknown) => !ApiError.is(e) && e instanceof Error);
  assert.throws(() => decodeReply('m', 'not json'), /not JSON/);
});

test('connect, call with the session prepended, logout; over a unix socket', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-client-'));
  const seen: { method: string; params: unknown[] }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { method, params, id } = JSON.parse(body) as { method: string; params: unknown[]; id: number };
      seen.push({ method, params });
      const reply = method === 'session.login_with_password'
        ? (params[1] === 'pw' ? { result: 'OpaqueRef:s' } : { error: { code: 1, message: 'SESSION_AUTHENTICATION_FAILED', data: [params[0], 'bad'] } })
        : { result: method === 'system.listMethods' ? ['a'] : '' };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ jsonrpc: '2.0', id, ...reply }));
    });
  });
  const sock = join(dir, 'xapi.sock');
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    const c = await XapiClient.connect({ target: `unix:${sock}`, user: 'root', password: 'pw', originator: 'test' });
    assert.equal(c.session, 'OpaqueRef:s');
    await c.call('network.get_all');
    assert.deepEqual(await c.call('system.listMethods'), ['a']);
    await c.close();
    assert.deepEqual(seen.map((s) => [s.method, s.params]), [
      ['session.login_with_password', ['root', 'pw', '2.23', 'test']],
      ['network.get_all', ['OpaqueRef:s']],
      ['system.listMethods', []],
      ['session.logout', ['OpaqueRef:s']],
    ]);
    await assert.rejects(XapiClient.connect({ target: `unix:${sock}`, user: 'root', password: 'no' }),
      (e: unknown) => ApiError.is(e, 'SESSION_AUTHENTICATION_FAILED'));
    await assert.rejects(XapiClient.connect({ target: `unix:${join(dir, 'none.sock')}`, user: 'root', password: 'pw' }),
      (e: unknown) => !ApiError.is(e) && /cannot reach/.test((e as Error).message));
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A bare HTTP/1.1 server over TCP whose handling of each request is chosen by the test:
 * `reply(conn, n)` says what to do with the n-th request (from 1) on connection `conn` (from 1).
 */
async function rawServer(reply: (conn: number, n: number, method: string) => 'answer' | 'drop' | 'half'):
  Promise<{ port: number; seen: Array<[number, number, string]>; close(): void }> {
  const seen: Array<[number, number, string]> = [];
  let conns = 0;
  const server = createNetServer((sock) => {
    const conn = ++conns;
    let n = 0;
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      for (;;) {
        const head = buf.indexOf('\r\n\r\n');
        if (head < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, head))?.[1] ?? 0);
        if (buf.length < head + 4 + len) return;
        const { method, id } = JSON.parse(buf.slice(head + 4, head + 4 + len)) as { method: string; id: number };
        buf = buf.slice(head + 4 + len);
        n++;
        seen.push([conn, n, method]);
        const what = reply(conn, n, method);
        // Closed without a byte of reply, as a keep-alive timeout does to an idle socket.
        if (what === 'drop') { sock.resetAndDestroy(); return; }
        const body = JSON.stringify({ jsonrpc: '2.0', id, result: method === 'session.login_with_password' ? 'OpaqueRef:s' : 'ok' });
        const text = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n\r\n${body}`;
        // Half a reply, then the connection is gone: the request was received.
        if (what === 'half') { sock.write(text.slice(0, 20)); sock.resetAndDestroy(); return; }
        sock.write(text);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, seen, close: () => server.close() };
}

test('a request sent on a kept-alive socket the server had closed is sent again on a new one', async () => {
  // The second request on the first connection meets a socket closed without a reply.
  const srv = await rawServer((conn, n) => (conn === 1 && n === 2 ? 'drop' : 'answer'));
  try {
    const c = await XapiClient.connect({ target: `http://127.0.0.1:${srv.port}`, user: 'root', password: 'pw' });
    assert.equal(await c.call('network.get_all'), 'ok');
    assert.deepEqual(srv.seen, [[1, 1, 'session.login_with_password'], [1, 2, 'network.get_all'], [2, 1, 'network.get_all']]);
    await c.close();
  } finally { srv.close(); }
});

test('no retry once a reply had begun, nor for a request on a fresh socket', async () => {
  const half = await rawServer((conn, n) => (conn === 1 && n === 2 ? 'half' : 'answer'));
  try {
    const c = await XapiClient.connect({ target: `http://127.0.0.1:${half.port}`, user: 'root', password: 'pw' });
    await assert.rejects(c.call('network.create', {}));
    assert.deepEqual(half.seen.map(([, , m]) => m), ['session.login_with_password', 'network.create'], 'sent once');
    await c.close();
  } finally { half.close(); }
  const fresh = await rawServer(() => 'drop');
  try {
    await assert.rejects(XapiClient.connect({ target: `http://127.0.0.1:${fresh.port}`, user: 'root', password: 'pw' }), /cannot reach/);
    assert.equal(fresh.seen.length, 1, 'sent once');
  } finally { fresh.close(); }
});

test('a bulk caller is not held to a few sockets: 16 calls are at the server at once', { timeout: 20_000 }, async () => {
  // The server answers nothing until 16 calls wait on it.
  const waiting: Array<() => void> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const { id, method } = JSON.parse(body) as { id: number; method: string };
      const answer = () => res.end(JSON.stringify({ jsonrpc: '2.0', id, result: method === 'session.login_with_password' ? 'OpaqueRef:s' : 'ok' }));
      if (method !== 'network.get_all') { answer(); return; }
      waiting.push(answer);
      if (waiting.length === 16) for (const w of waiting) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const c = await XapiClient.connect({ target: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, user: 'root', password: 'pw' });
    const results = await Promise.all(Array.from({ length: 16 }, () => c.call('network.get_all')));
    assert.deepEqual(results, Array(16).fill('ok'));
    await c.close();
  } finally { server.close(); server.closeAllConnections(); }
});

test('a login whose server never answers is given up when its signal aborts', async () => {
  const login = new AbortController();
  // Takes the request and answers nothing: the client gives up as soon as the request is in.
  const server = createServer(() => { login.abort(); });
  const closedByClient = new Promise<void>((r) => server.on('connection', (s) => s.on('close', () => r())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  /** `p`, or a failure after 5 s (a client that never gives up). */
  const within = <T>(p: Promise<T>, what: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`not within 5 s: ${what}`)), 5000); });
    return Promise.race([p, bound]).finally(() => clearTimeout(timer));
  };
  try {
    const c = XapiClient.connect({ target: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, user: 'root', password: 'pw', signal: login.signal });
    await within(c.then(() => assert.fail('logged in'), () => undefined), 'the login rejected');
    await within(closedByClient, 'the client\'s socket closed'); // the server closes nothing itself
    await assert.rejects(XapiClient.connect({ target: 'http://127.0.0.1:1', user: 'root', password: 'pw', signal: login.signal }), { name: 'AbortError' }, 'an aborted signal sends nothing');
  } finally { server.close(); server.closeAllConnections(); }
});
