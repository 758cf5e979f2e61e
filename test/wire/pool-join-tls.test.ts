// pool.join over TLS: the joining host checks the master's certificate against its MasterTrust
// (here a pinned fingerprint); an untrusted master is refused before the password is sent, with
// SSL_VERIFY_ERROR naming the fingerprint it presented.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XapiClient } from '../../src/client/index.js';
import { RULES } from '../../src/server/impl/index.js';
import { simulatedLocalAgent } from '../../src/bin/local-agent.js';
import { startMaster, type Master } from '../../src/server/serve.js';
import { MEMBER_FILE, type MasterTrust, type MemberConfig } from '../../src/server/member.js';
import { ROOT_PASSWORD, assertApiError } from '../support/master.js';

const started: Array<{ master: Master; dir: string; client?: XapiClient }> = [];
after(async () => {
  for (const h of started.reverse()) {
    await h.client?.close().catch(() => {});
    await h.master.close();
    rmSync(h.dir, { recursive: true, force: true });
  }
});

async function host(name: string, ip: string, extra: { http?: 'loopback'; masterTrust?: MasterTrust }) {
  const dir = mkdtempSync(join(tmpdir(), `xcpnet-tlsjoin-${name}-`));
  const master = await startMaster({
    stateDir: dir, listen: { host: ip, port: 0 }, rootPassword: ROOT_PASSWORD, impls: RULES, localAgent: simulatedLocalAgent(2),
    hostName: name, log: () => {}, memberWatchS: 1, ...extra,
  });
  const h: { master: Master; dir: string; client?: XapiClient } = { master, dir };
  started.push(h);
  return h;
}

test('a host joins a TLS master it trusts by fingerprint; a wrong pin is SSL_VERIFY_ERROR naming the real one', async () => {
  const A = await host('tlsA', '127.0.0.1', {});
  const fp = A.master.fingerprint();
  const address = `127.0.0.1:${A.master.listener.tcpPort}`;
  const wrong = `${'00:'.repeat(31)}00`;

  // Each joining host is reached by the test over its local socket (trusted, no password).
  const B = await host('tlsB', '127.0.0.2', { http: 'loopback', masterTrust: { fingerprint: wrong } });
  B.client = await XapiClient.connect({ target: `unix:${B.master.socketPath}`, user: 'root', password: '' });
  const e = await assertApiError(B.client.call('pool.join', address, 'root', ROOT_PASSWORD), 'SSL_VERIFY_ERROR');
  assert.ok(e.params[0]!.includes(fp), e.params[0]);
  assert.equal(B.master.member, undefined, 'still standalone');

  const C = await host('tlsC', '127.0.0.3', { http: 'loopback', masterTrust: { fingerprint: fp } });
  C.client = await XapiClient.connect({ target: `unix:${C.master.socketPath}`, user: 'root', password: '' });
  await C.client.call('pool.join', address, 'root', ROOT_PASSWORD);
  const cfg = JSON.parse(readFileSync(join(C.dir, MEMBER_FILE), 'utf8')) as MemberConfig;
  assert.equal(cfg.master, `https://${address}`);
  const onA = await XapiClient.connect({ target: `https://${address}`, user: 'root', password: ROOT_PASSWORD, trust: { fingerprint: fp } });
  try {
    const names = Object.values(await onA.call<Record<string, { name_label: string }>>('host.get_all_records')).map((h) => h.name_label).sort();
    assert.deepEqual(names, ['tlsA', 'tlsC']);
  } finally { await onA.close(); }
});
