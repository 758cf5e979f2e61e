// pool.join over TLS: the joining host checks the master's certificate against its MasterTrust
// (here a pinned fingerprint); an untrusted master is refused before the password is sent, with
// SSL_VERIFY_ERROR naming the fingerprint it presented. A member serving HTTPS answers
// HOST_IS_SLAVE, which npm xen-api and a XenAPI.py script follow to the master over HTTPS.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { createClient } from 'xen-api';
import { join } from 'node:path';
import { XapiClient } from '../../src/client/index.js';
import { MEMBER_FILE, type MasterTrust, type MemberConfig } from '../../src/server/member.js';
import { ROOT_PASSWORD, StandaloneHosts, assertApiError, type StandaloneHost } from '../support/master.js';

const hosts = new StandaloneHosts('tlsjoin');
after(() => hosts.close());

const host = (name: string, ip: string, extra: { http?: 'loopback'; masterTrust?: MasterTrust }, port = 0): Promise<StandaloneHost> =>
  hosts.start(name, ip, { ...extra, port });

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

test('HOST_IS_SLAVE over HTTPS: npm xen-api follows it; XenAPI.py, verifying both certificates, reconnects to the address it names', async () => {
  const A = await host('tlsM', '127.0.0.5', {});
  const port = A.master.listener.tcpPort!;
  // The member serves HTTPS on the master's port at another loopback address: a client that
  // follows HOST_IS_SLAVE keeps its scheme and port and changes only the address.
  const D = await host('tlsD', '127.0.0.6', { masterTrust: { fingerprint: A.master.fingerprint() } }, port);
  D.client = await XapiClient.connect({ target: `unix:${D.master.socketPath}`, user: 'root', password: '' });
  await D.client.call('pool.join', `127.0.0.5:${port}`, 'root', ROOT_PASSWORD);
  await assertApiError(XapiClient.connect({ target: `https://127.0.0.6:${port}`, user: 'root', password: ROOT_PASSWORD,
    trust: { fingerprint: D.master.fingerprint() } }), 'HOST_IS_SLAVE', ['127.0.0.5']);

  const xapi = createClient({ url: `https://127.0.0.6:${port}`, auth: { user: 'root', password: ROOT_PASSWORD }, allowUnauthorized: true });
  try {
    await xapi.connect();
    assert.equal((xapi as unknown as { _url: { hostname: string; protocol: string } })._url.hostname, '127.0.0.5');
    assert.equal((await xapi.call<string[]>('host.get_all')).length, 2, 'the master\'s pool of two');
    await xapi.objectsFetched;
  } finally {
    await xapi.disconnect().catch(() => {});
  }

  const script = `
import importlib.util, json, ssl, sys, xmlrpc.client
spec = importlib.util.spec_from_file_location("XenAPI", sys.argv[1])
XenAPI = importlib.util.module_from_spec(spec); spec.loader.exec_module(XenAPI)
url, pw, port, ca_member, ca_master = sys.argv[2:7]
ctx = ssl.create_default_context(cafile=ca_member)
ctx.load_verify_locations(cafile=ca_master)
s = XenAPI.Session(url, transport=xmlrpc.client.SafeTransport(context=ctx))
out = {}
try:
    s.xenapi.login_with_password("root", pw, "1.0", "t")
except XenAPI.Failure as f:
    out["failure"] = f.details
    s = XenAPI.Session("https://%s:%s/" % (f.details[1], port), transport=xmlrpc.client.SafeTransport(context=ctx))
    s.xenapi.login_with_password("root", pw, "1.0", "t")
out["hosts"] = len(s.xenapi.host.get_all())
s.xenapi.session.logout()
print(json.dumps(out))
`;
  const { stdout } = await promisify(execFile)('python3', ['-c', script, '/usr/lib/python3/dist-packages/os_xenapi/client/XenAPI.py',
    `https://127.0.0.6:${port}/`, ROOT_PASSWORD, String(port), join(D.dir, 'server.pem'), join(A.dir, 'server.pem')], { timeout: 30_000 });
  const out = JSON.parse(stdout);
  assert.deepEqual(out.failure, ['HOST_IS_SLAVE', '127.0.0.5']);
  assert.equal(out.hosts, 2);
});
