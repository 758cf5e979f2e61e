// HTTPS as an XCP host serves it: the real clients (npm `xen-api`, Debian's XenAPI.py) over TLS,
// the certificate made at first start and replaced live, and the local socket's trust.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { XapiClient, UntrustedCertificate } from '../../src/client/index.js';
import { TrustingAgent } from '../../src/client/trust.js';
import { fingerprintOf, loadOrCreateCertificate } from '../../src/server/certificate.js';
import { assertApiError, ROOT_PASSWORD, startTestPool, type TestPool } from '../support/master.js';

const run = promisify(execFile);
const XENAPI_PY = '/usr/lib/python3/dist-packages/os_xenapi/client/XenAPI.py';

let pool: TestPool;
let port: number;
before(async () => {
  pool = await startTestPool({ tls: true });
  port = pool.master.listener.tcpPort!;
});
after(async () => { await pool.close(); });

/** The fingerprint of the certificate a new TLS connection to the master is shown. */
function servedFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.once('error', reject);
  });
}

// npm xen-api has no CA option: a node program is given CAs by NODE_EXTRA_CA_CERTS.
const XEN_API_SCRIPT = `
import { createClient } from 'xen-api';
const [url, password, allow] = process.argv.slice(1);
const xapi = createClient({ url, auth: { user: 'root', password }, allowUnauthorized: allow === 'yes', transport: 'json-rpc' });
try {
  await xapi.connect();
  const major = await xapi.call('host.get_API_version_major', xapi.pool.master);
  console.log(JSON.stringify({ ok: true, major, status: xapi.status }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e?.code ?? e?.message ?? e) }));
} finally {
  await xapi.disconnect().catch(() => {});
}
`;

async function xenApi(allow: boolean, extraCa?: string): Promise<{ ok: boolean; major?: number; status?: string; error?: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  if (extraCa !== undefined) env.NODE_EXTRA_CA_CERTS = extraCa;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', XEN_API_SCRIPT, pool.url, ROOT_PASSWORD, allow ? 'yes' : 'no'],
    { env, cwd: process.cwd(), timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

test('npm xen-api over HTTPS: with the master certificate as CA, and with allowUnauthorized; refused otherwise', async () => {
  const withCa = await xenApi(false, join(pool.stateDir, 'server.pem'));
  assert.deepEqual(withCa, { ok: true, major: 2, status: 'connected' });
  const unauthorized = await xenApi(true);
  assert.deepEqual(unauthorized, { ok: true, major: 2, status: 'connected' });
  const untrusted = await xenApi(false);
  assert.equal(untrusted.ok, false);
  assert.match(untrusted.error!, /SELF_SIGNED|self.signed|certificate/i);
});

const PY_SCRIPT = `
import importlib.util, json, ssl, sys, xmlrpc.client
spec = importlib.util.spec_from_file_location("XenAPI", sys.argv[1])
XenAPI = importlib.util.module_from_spec(spec); spec.loader.exec_module(XenAPI)
ctx = ssl.create_default_context(cafile=sys.argv[4] or None)
try:
    s = XenAPI.Session(sys.argv[2], transport=xmlrpc.client.SafeTransport(context=ctx))
    s.xenapi.login_with_password("root", sys.argv[3], "1.0", "xenapi-py-tls")
    pools = s.xenapi.pool.get_all()
    print(json.dumps({"ok": True, "pools": len(pools)}))
    s.xenapi.session.logout()
except ssl.SSLCertVerificationError as e:
    print(json.dumps({"ok": False, "error": e.verify_message}))
`;

test('XenAPI.py over HTTPS with an SSL context: trusted CA file works, no CA is refused', async () => {
  const py = (ca: string) => run('python3', ['-c', PY_SCRIPT, XENAPI_PY, `${pool.url}/`, ROOT_PASSWORD, ca], { timeout: 30_000 })
    .then((r) => JSON.parse(r.stdout));
  assert.deepEqual(await py(join(pool.stateDir, 'server.pem')), { ok: true, pools: 1 });
  const refused = await py('');
  assert.equal(refused.ok, false);
  assert.match(refused.error, /self.signed/i);
});

test('our client: a pinned fingerprint, the CA file, and an untrusted certificate named by its fingerprint', async () => {
  const fp = pool.master.fingerprint();
  assert.equal(fp, fingerprintOf(pool.cert!));
  const pinned = await XapiClient.connect({ target: pool.url, user: 'root', password: ROOT_PASSWORD, trust: { fingerprint: fp.replace(/:/g, '').toLowerCase() } });
  assert.ok((await pinned.call<string[]>('host.get_all')).length === 1);
  await pinned.close();
  const wrong = `${'AB:'.repeat(31)}AB`;
  await assert.rejects(XapiClient.connect({ target: pool.url, user: 'root', password: ROOT_PASSWORD, trust: { fingerprint: wrong } }),
    (e: unknown) => e instanceof UntrustedCertificate && e.fingerprint === fp && e.message.includes(fp));
  await assert.rejects(XapiClient.connect({ target: pool.url, user: 'root', password: ROOT_PASSWORD }),
    (e: unknown) => e instanceof UntrustedCertificate && e.fingerprint === fp && /SELF_SIGNED/.test(e.reason));
});

test('the key and the database are 0600 (the certificate is public); the certificate is kept across restarts', () => {
  for (const f of ['server.key', 'xcpnet.db']) {
    assert.equal((statSync(join(pool.stateDir, f)).mode & 0o777).toString(8), '600', f);
  }
  const again = loadOrCreateCertificate(pool.stateDir, ['other'], ['10.9.9.9']);
  assert.equal(fingerprintOf(again.cert), pool.master.fingerprint());
});

test('host.install_server_certificate swaps the certificate live; bad input changes nothing', async () => {
  const host = pool.master.host;
  const before = await servedFingerprint();
  assert.equal(before, pool.master.fingerprint());
  assert.equal(await pool.call('host.get_server_certificate', host), pool.cert);

  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-cert-'));
  const other = mkdtempSync(join(tmpdir(), 'xcpnet-cert-'));
  try {
    const next = loadOrCreateCertificate(dir, ['localhost'], ['127.0.0.1']);
    const stranger = loadOrCreateCertificate(other, ['localhost'], ['127.0.0.1']);
    // Bad input: each a XenAPI error, and the served certificate stays.
    await assertApiError(pool.call('host.install_server_certificate', host, next.cert, stranger.key, ''), 'SERVER_CERTIFICATE_KEY_MISMATCH', []);
    await assertApiError(pool.call('host.install_server_certificate', host, 'not a certificate', next.key, ''), 'SERVER_CERTIFICATE_INVALID', []);
    await assertApiError(pool.call('host.install_server_certificate', host, next.cert, 'not a key', ''), 'SERVER_CERTIFICATE_KEY_INVALID', []);
    await assertApiError(pool.call('host.install_server_certificate', host, next.cert, next.key, 'junk'), 'SERVER_CERTIFICATE_CHAIN_INVALID', []);
    assert.equal(await servedFingerprint(), before);
    assert.equal(fingerprintOf(readFileSync(join(pool.stateDir, 'server.pem'), 'utf8')), before);

    await pool.call('host.install_server_certificate', host, next.cert, next.key, '');
    // A new connection sees the new certificate at once (the old client keeps its connection).
    assert.equal(await servedFingerprint(), fingerprintOf(next.cert));
    assert.notEqual(fingerprintOf(next.cert), before);
    assert.equal(await pool.call('host.get_server_certificate', host), next.cert);
    assert.equal((statSync(join(pool.stateDir, 'server.key')).mode & 0o777).toString(8), '600');
    const c = await XapiClient.connect({ target: pool.url, user: 'root', password: ROOT_PASSWORD, trust: { ca: next.cert } });
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  }
});

test('the local socket is trusted without a password, as xapi trusts its own; TCP never is', async () => {
  const local = await XapiClient.connect({ target: `unix:${pool.master.socketPath}`, user: 'root', password: 'not the password' });
  try {
    const me = await local.call<{ is_local_superuser: boolean; auth_user_name: string }>('session.get_record', local.session);
    assert.equal(me.is_local_superuser, true);
    assert.equal(me.auth_user_name, 'root');
  } finally { await local.close(); }
  for (const password of ['', 'not the password']) {
    await assertApiError(XapiClient.connect({ target: pool.url, user: 'root', password, trust: { ca: readFileSync(join(pool.stateDir, 'server.pem'), 'utf8') } }),
      'SESSION_AUTHENTICATION_FAILED');
  }
});

test('a connection still in its TLS handshake ends with its agent: the request fails instead of hanging', { timeout: 20_000 }, async () => {
  // A server that accepts and never answers: a handshake that never ends (as one sent from an
  // address the host has just lost does).
  const held: Socket[] = [];
  const silent = createServer((s) => { held.push(s); });
  const accepted = new Promise<void>((resolve) => silent.once('connection', () => resolve()));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const agent = new TrustingAgent({ fingerprint: 'AA:'.repeat(31) + 'AA' }, { keepAlive: true });
  try {
    const req = httpsRequest({ host: '127.0.0.1', port: (silent.address() as AddressInfo).port, method: 'POST', path: '/jsonrpc', agent });
    const failed = new Promise<Error>((resolve) => req.once('error', resolve));
    req.end('{}');
    await accepted;
    agent.destroy();
    // Bounded: a request still hanging after 10 s fails the test (and is ended, so the file ends).
    const bound = new AbortController();
    const hung = sleep(10_000, 'still hanging 10 s after its agent was destroyed', { signal: bound.signal }).catch(() => 'aborted');
    const outcome = await Promise.race([failed, hung]);
    bound.abort();
    if (typeof outcome === 'string') req.destroy();
    assert.match(typeof outcome === 'string' ? outcome : outcome.message, /closed before its TLS handshake ended/);
  } finally {
    for (const s of held) s.destroy();
    silent.close();
  }
});
