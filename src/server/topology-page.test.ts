// The topology view's routes on the API listener: the page and its assets with their security
// headers, nothing else reachable by path, the lab wiring for live sessions only, and the RPC
// routes unchanged beside them. Over real HTTP against a real master.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMaster, type Master } from './serve.js';
import { RULES } from './impl/index.js';
import { TOPOLOGY_CSP, topologyPages } from './topology-page.js';
import type { LabWiring } from '../topology/model.js';

const WIRING: LabWiring = {
  version: 1, lab: 'demo', switch: { name: 'sw0' },
  upstream: { name: 'upstream', port: 'xldemo-up', gateways: [{ vlan: 1, address: '192.0.2.1/24' }, { vlan: 10, address: '198.51.100.1/24' }] },
  cables: [{ host: 'host1', device: 'eth0', port: 'xldemo-h1e0', state: 'up' }, { host: 'host1', device: 'eth1', port: 'xldemo-h1e1', state: 'down' }],
};

let dir: string;
let master: Master;
let base: string;
const wiringFile = () => join(dir, 'wiring.json');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'xcpnet-topopage-'));
  writeFileSync(wiringFile(), JSON.stringify(WIRING));
  master = await startMaster({ stateDir: join(dir, 'state'), listen: { host: '127.0.0.1', port: 0 }, http: 'loopback',
    rootPassword: 'pw', impls: RULES, labWiringFile: wiringFile(), log: () => {} });
  base = `http://127.0.0.1:${master.listener.tcpPort}`;
});
after(async () => {
  await master.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw request: the path is sent as written (fetch would normalise `..`). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, closed: res.headers.connection === 'close' }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function login(): Promise<string> {
  const res = await fetch(`${base}/jsonrpc`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'session.login_with_password', params: ['root', 'pw', '1.0', 'test'], id: 1 }) });
  return (await res.json() as { result: string }).result;
}

test('the page and its assets are served with a strict CSP and the page headers', async () => {
  for (const [path, type] of [['/topology/', 'text/html'], ['/topology/index.html', 'text/html'], ['/topology/app.js', 'text/javascript'], ['/topology/app.css', 'text/css']]) {
    const r = await raw('GET', path!);
    assert.equal(r.status, 200, path);
    assert.equal(String(r.headers['content-type']).split(';')[0], type, path);
    assert.equal(r.headers['content-security-policy'], TOPOLOGY_CSP, path);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
  }
  assert.match((await raw('GET', '/topology/')).body, /<script type="module" src="app.js"><\/script>/);
  const head = await raw('HEAD', '/topology/app.js');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  const bare = await raw('GET', '/topology?x=1');
  assert.equal(bare.status, 308);
  assert.equal(bare.headers.location, '/topology/');
});

test('no other path is served: no file of the state directory, no traversal, no prototype key', async () => {
  for (const path of ['/topology/../xcpnet.db', '/topology/%2e%2e/server.key', '/topology/__proto__', '/topology/constructor',
    '/topology/app.js.LEGAL.txt', '/topology/x/app.js', '/server.key', '/favicon.ico']) {
    const r = await raw('GET', path);
    assert.equal(r.status, 404, path);
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'/, path);
  }
});

test('pages take GET and HEAD without a body; anything else is refused', async () => {
  for (const method of ['POST', 'PUT', 'DELETE']) {
    assert.equal((await raw(method, '/topology/', { 'Content-Type': 'application/json' }, '{}')).status, 404, method);
  }
  const withBody = await raw('GET', '/topology/', { 'Content-Length': '5' }, 'hello');
  assert.equal(withBody.status, 400);
  assert.equal(withBody.closed, true);
  // The RPC routes beside the pages are as before.
  assert.equal((await raw('GET', '/jsonrpc')).status, 405);
  assert.match(await login(), /^OpaqueRef:/);
});

test('the lab wiring goes to live sessions only, checked as it is read', async () => {
  assert.equal((await raw('GET', '/topology/lab.json')).status, 401);
  assert.equal((await raw('GET', '/topology/lab.json', { 'X-XenAPI-Session': 'OpaqueRef:forged' })).status, 401);
  const session = await login();
  const ok = await raw('GET', '/topology/lab.json', { 'X-XenAPI-Session': session });
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body), WIRING);
  // A changed file is read again; one that is not a wiring is never passed on.
  writeFileSync(wiringFile(), JSON.stringify({ ...WIRING, cables: [{ ...WIRING.cables[0]!, port: 'a b<script>' }] }));
  const bad = await raw('GET', '/topology/lab.json', { 'X-XenAPI-Session': session });
  assert.equal(bad.status, 503);
  assert.doesNotMatch(bad.body, /<script>/);
  writeFileSync(wiringFile(), JSON.stringify({ ...WIRING, lab: 'again' }));
  assert.equal(JSON.parse((await raw('GET', '/topology/lab.json', { 'X-XenAPI-Session': session })).body).lab, 'again');
  // The session ended: no more wiring.
  await fetch(`${base}/jsonrpc`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'session.logout', params: [session], id: 2 }) });
  assert.equal((await raw('GET', '/topology/lab.json', { 'X-XenAPI-Session': session })).status, 401);
});

test('a pool that is no lab has no wiring; a master without built assets says how to build them', async () => {
  const logged: string[] = [];
  const pages = topologyPages({ assetsDir: join(dir, 'absent'), sessionValid: () => true, log: (l) => logged.push(l) });
  assert.equal((await pages({ path: '/topology/lab.json', headers: { 'x-xenapi-session': 'OpaqueRef:x' } }))?.status, 404);
  const page = await pages({ path: '/topology/', headers: {} });
  assert.equal(page?.status, 503);
  assert.match(String(page?.body), /not built.*scripts\/setup\.sh/);
  assert.ok(logged.some((l) => /topology view is not built/.test(l)), logged.join('\n'));
  assert.equal(await pages({ path: '/elsewhere', headers: {} }), undefined);
});
