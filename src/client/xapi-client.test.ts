import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
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
