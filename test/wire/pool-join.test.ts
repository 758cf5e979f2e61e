// Pool membership between real `xcpnet serve` hosts in-process, over HTTP on loopback: pool.join
// run against the joining host, its refusals, the member's HOST_IS_SLAVE (followed by npm
// `xen-api` and by a XenAPI.py script), the host credential's limits, pool.rotate_secret,
// pool.eject back to standalone, host.destroy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'xen-api';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { XapiClient } from '../../src/client/index.js';
import { certificateBlocks, commonNameOf } from '../../src/common/ovn-pki.js';
import { MEMBER_FILE, type MemberConfig } from '../../src/server/member.js';
import { ROOT_PASSWORD, StandaloneHosts, assertApiError, type StandaloneHost } from '../support/master.js';

interface Host extends StandaloneHost { url: string; client: XapiClient }

const hosts = new StandaloneHosts('join');

/** Plain HTTP on loopback addresses (TLS is tested in tls.test.ts). */
async function startHost(name: string, ip: string, port = 0): Promise<Host> {
  const h = await hosts.start(name, ip, { port, http: 'loopback' });
  const url = `http://${ip}:${h.master.listener.tcpPort}`;
  const client = await XapiClient.connect({ target: url, user: 'root', password: ROOT_PASSWORD });
  return Object.assign(h, { url, client }); // the object the hosts close: a client set later is closed too
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const memberFile = (h: Host): string => join(h.dir, MEMBER_FILE);
const memberCfg = (h: Host): MemberConfig => JSON.parse(readFileSync(memberFile(h), 'utf8')) as MemberConfig;
const store = (h: Host) => h.master.server.store;
/** Every record of the classes a join, an eject or a member's credential could touch: "nothing changed" is this, equal. */
const DB_CLASSES = ['pool', 'host', 'network', 'PIF', 'PIF_metrics', 'VM', 'VIF', 'VLAN', 'Bond', 'tunnel'];
const dbSnapshot = (h: Host): string => JSON.stringify(DB_CLASSES.map((c) => [...store(h).all(c)].sort(([a], [b]) => a.localeCompare(b))));
const hostRefOf = (h: Host, uuid: string): string | undefined => [...store(h).all('host')].find(([, r]) => r.uuid === uuid)?.[0];
const run = promisify(execFile);
const hostUuidOnA = (ref: string): string => String(store(A).get('host', ref).uuid);
const ownUuid = (h: Host): string => String(store(h).get('host', h.master.host).uuid);

let A: Host; let B: Host; let C: Host;
let port: number;

before(async () => {
  A = await startHost('hostA', '127.0.0.1');
  port = A.master.listener.tcpPort!;
  // The member listens on another loopback address with the master's port: a client that
  // follows HOST_IS_SLAVE keeps its port and changes only the address.
  B = await startHost('hostB', '127.0.0.2', port);
  C = await startHost('hostC', '127.0.0.3', port);
});
after(() => hosts.close());

// These hosts serve plain HTTP (on loopback): a master-address without a scheme would mean HTTPS.
const join_ = (h: Host, address: string, pw = ROOT_PASSWORD) =>
  h.client.call('pool.join', address.includes('://') ? address : `http://${address}`, 'root', pw);

describe('pool.join refusals change nothing', () => {
  test('a wrong password', async () => {
    const before = [dbSnapshot(A), dbSnapshot(B)];
    await assertApiError(join_(B, `127.0.0.1:${port}`, 'wrong'), 'SESSION_AUTHENTICATION_FAILED');
    assert.deepEqual([dbSnapshot(A), dbSnapshot(B)], before);
    assert.equal(existsSync(memberFile(B)), false);
  });
  test('an unreachable master', async () => {
    const before = [dbSnapshot(A), dbSnapshot(B)];
    await assertApiError(join_(B, '127.0.0.1:1'), 'POOL_JOINING_HOST_CONNECTION_FAILED', []);
    assert.deepEqual([dbSnapshot(A), dbSnapshot(B)], before);
    assert.equal(existsSync(memberFile(B)), false);
  });
  test('a master address that is no address', async () => {
    await assertApiError(join_(B, 'ftp://x/y'), 'INVALID_VALUE', ['master_address', 'ftp://x/y']);
  });
  test('itself', async () => {
    const before = dbSnapshot(A);
    await assertApiError(join_(A, `127.0.0.1:${port}`), 'OPERATION_NOT_ALLOWED', ['Host cannot become slave of itself']);
    assert.equal(dbSnapshot(A), before);
  });
  test('a joiner the master already has, or of another API version (the master checks too)', async () => {
    const rec = (uuid: string, minor = 23) => ({
      uuid, name_label: 'x', hostname: 'x', address: '', API_version_major: 2, API_version_minor: minor, PIFs: [],
    });
    const before = dbSnapshot(A);
    await assertApiError(A.client.call('pool.admit_host', rec(ownUuid(A))), 'OPERATION_NOT_ALLOWED', ['Host cannot become slave of itself']);
    await assertApiError(A.client.call('pool.admit_host', rec(ownUuid(B), 22)), 'POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION', ['2.22', '2.23']);
    await assertApiError(A.client.call('pool.admit_host', { ...rec(ownUuid(B)), PIFs: [{ device: 'eth0; rm' }] }), 'INVALID_VALUE');
    assert.equal(dbSnapshot(A), before);
  });
});

describe('a member', () => {
  before(async () => { await join_(B, `127.0.0.1:${port}`); });

  test('is in the master\'s database with its PIFs on the pool\'s networks, merged by bridge', async () => {
    const bRef = hostRefOf(A, ownUuid(B));
    assert.ok(bRef, 'B is a host of A\'s pool');
    const pifs = [...store(A).all('PIF')];
    const netOf = (host: string, device: string) => pifs.find(([, p]) => p.host === host && p.device === device)?.[1].network;
    for (const dev of ['eth0', 'eth1']) {
      assert.ok(netOf(bRef, dev), `B's ${dev}`);
      assert.equal(netOf(bRef, dev), netOf(A.master.host, dev), `${dev} of both hosts on one network`);
    }
    const mgmt = pifs.find(([, p]) => p.host === bRef && p.management === true)?.[1];
    assert.equal(mgmt?.device, 'eth0');
    assert.equal(store(A).get('host', bRef).management_bridge, 'xenbr0');
  });

  test('keeps its credential 0600, and its agent reports to the master with it', async () => {
    assert.equal(statSync(memberFile(B)).mode & 0o777, 0o600);
    const cfg = memberCfg(B);
    assert.equal(cfg.masterAddress, '127.0.0.1');
    const bRef = hostRefOf(A, ownUuid(B))!;
    await until('B\'s agent to report', () => A.master.server.hub.hasAgent(bRef));
    assert.equal(B.master.agent, undefined, 'no standalone agent on a member');
  });

  test('answers every call with HOST_IS_SLAVE [master address]', async () => {
    await assertApiError(XapiClient.connect({ target: B.url, user: 'root', password: ROOT_PASSWORD }), 'HOST_IS_SLAVE', ['127.0.0.1']);
    await assertApiError(B.client.call('network.get_all'), 'HOST_IS_SLAVE', ['127.0.0.1']);
  });

  test('cannot join again, nor join another pool; the master refuses a host it already has', async () => {
    const before = [dbSnapshot(A), dbSnapshot(B), dbSnapshot(C), readFileSync(memberFile(B), 'utf8')];
    await assertApiError(join_(B, `127.0.0.1:${port}`), 'HOST_IS_SLAVE', ['127.0.0.1']);
    await assertApiError(join_(B, `127.0.0.3:${port}`), 'HOST_IS_SLAVE', ['127.0.0.1']);
    // The same host joining twice (its admission asked again): refused by the master.
    const again = { uuid: ownUuid(B), name_label: 'hostB', hostname: 'hostB', address: '', API_version_major: 2, API_version_minor: 23, PIFs: [] };
    await assertApiError(A.client.call('pool.admit_host', again), 'OPERATION_NOT_ALLOWED',
      [`A host with uuid ${ownUuid(B)} is already a member of this pool`]);
    assert.deepEqual([dbSnapshot(A), dbSnapshot(B), dbSnapshot(C), readFileSync(memberFile(B), 'utf8')], before);
  });

  test('a master of other hosts cannot join another pool', async () => {
    const before = [dbSnapshot(A), dbSnapshot(C)];
    await assertApiError(join_(A, `127.0.0.3:${port}`), 'POOL_JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS', []);
    assert.deepEqual([dbSnapshot(A), dbSnapshot(C)], before);
  });

  test('npm xen-api follows HOST_IS_SLAVE to the master', async () => {
    const xapi = createClient({ url: B.url, auth: { user: 'root', password: ROOT_PASSWORD }, allowUnauthorized: true, eventPollDelay: 200 });
    try {
      await xapi.connect();
      assert.equal(xapi.status, 'connected');
      const hostsSeen = await xapi.call<string[]>('host.get_all');
      assert.equal(hostsSeen.length, 2, 'the master\'s pool of two');
      assert.equal((xapi as unknown as { _url: { hostname: string } })._url.hostname, '127.0.0.1');
      await xapi.objectsFetched;
    } finally {
      await xapi.disconnect().catch(() => {});
    }
  });

  test('XenAPI.py raises Failure HOST_IS_SLAVE and a script reconnects to the address it names', async () => {
    const script = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("XenAPI", sys.argv[1])
XenAPI = importlib.util.module_from_spec(spec); spec.loader.exec_module(XenAPI)
url, pw, port = sys.argv[2], sys.argv[3], sys.argv[4]
s = XenAPI.Session(url)
out = {}
try:
    s.xenapi.login_with_password("root", pw, "1.0", "t")
except XenAPI.Failure as f:
    out["failure"] = f.details
    s = XenAPI.Session("http://%s:%s/" % (f.details[1], port))
    s.xenapi.login_with_password("root", pw, "1.0", "t")
out["hosts"] = len(s.xenapi.host.get_all())
s.xenapi.session.logout()
print(json.dumps(out))
`;
    const { stdout } = await promisify(execFile)('python3', ['-c', script, '/usr/lib/python3/dist-packages/os_xenapi/client/XenAPI.py',
      `${B.url}/`, ROOT_PASSWORD, String(port)], { timeout: 30_000 });
    const out = JSON.parse(stdout);
    assert.deepEqual(out.failure, ['HOST_IS_SLAVE', '127.0.0.1']);
    assert.equal(out.hosts, 2);
  });

  test('its host credential reads, reports for its own host only, and writes no user object', async () => {
    const cfg = memberCfg(B);
    await assertApiError(XapiClient.connect({ target: A.url, user: '', password: '', hostCredential: { host: cfg.host, secret: 'wrong' } }),
      'SESSION_AUTHENTICATION_FAILED');
    const hc = await XapiClient.connect({ target: A.url, user: '', password: '', hostCredential: { host: cfg.host, secret: cfg.secret } });
    try {
      assert.equal((await hc.call<string[]>('host.get_all')).length, 2);
      const before = dbSnapshot(A);
      await assertApiError(hc.call('network.create', { name_label: 'evil', name_description: '', MTU: 1500, other_config: {} }), 'RBAC_PERMISSION_DENIED');
      const net = [...store(A).all('network')][0]![0];
      await assertApiError(hc.call('network.set_name_label', net, 'evil'), 'RBAC_PERMISSION_DENIED');
      await assertApiError(hc.call('pool.eject', A.master.host), 'RBAC_PERMISSION_DENIED');
      await assertApiError(hc.call('host.report_network_state', A.master.host, 0, {}), 'RBAC_PERMISSION_DENIED');
      await assertApiError(hc.call('host.fetch_secret', A.master.host), 'RBAC_PERMISSION_DENIED');
      assert.equal(dbSnapshot(A), before);
      assert.notEqual(store(A).get('network', net).name_label, 'evil');
      // For its own host the report gets past the credential check to the report's own checks.
      await assertApiError(hc.call('host.report_network_state', cfg.host, 0, {}), 'INVALID_VALUE', ['state.backend', 'undefined']);
    } finally { await hc.close(); }
    // A user's session may not collect a member's secret either.
    await assertApiError(A.client.call('host.fetch_secret', cfg.host), 'RBAC_PERMISSION_DENIED');
  });

  test('its host credential gets its own host\'s OVN certificate signed by the pool CA, naming its uuid, and no other host\'s', async () => {
    const cfg = memberCfg(B);
    const dir = mkdtempSync(join(tmpdir(), 'xcpnet-ovn-csr-'));
    try {
      const key = join(dir, 'host.key');
      await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]);
      // The request claims the master's chassis name: the certificate names the caller's host anyway.
      const { stdout: csr } = await run('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${ownUuid(A)}`]);
      const hc = await XapiClient.connect({ target: A.url, user: '', password: '', hostCredential: { host: cfg.host, secret: cfg.secret } });
      try {
        await assertApiError(hc.call('host.sign_ovn_certificate', A.master.host, csr), 'RBAC_PERMISSION_DENIED');
        await assertApiError(hc.call('host.sign_ovn_certificate', cfg.host, 'not a request'), 'INVALID_VALUE');
        await assertApiError(hc.call('host.sign_ovn_certificate', cfg.host, `${csr}${csr}`), 'INVALID_VALUE');
        // A request whose signature is not its key's (a byte of the signature changed).
        const body = csr.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
        const der = Buffer.from(body, 'base64');
        der[der.length - 5] = der[der.length - 5]! ^ 0xff;
        const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE REQUEST-----\n`;
        await assertApiError(hc.call('host.sign_ovn_certificate', cfg.host, forged), 'INVALID_VALUE', ['csr', 'its signature does not verify']);
        const answer = await hc.call<string>('host.sign_ovn_certificate', cfg.host, csr);
        const blocks = certificateBlocks(answer);
        assert.equal(blocks.length, 2, 'the certificate, then the pool CA');
        const [cert, ca] = blocks.map((b) => new X509Certificate(b));
        assert.ok(cert && ca && ca.ca);
        assert.equal(ca.fingerprint256, new X509Certificate(readFileSync(join(A.dir, 'ovn-pki', 'pool-ca.pem'))).fingerprint256, 'the master\'s pool CA');
        assert.equal(commonNameOf(cert), hostUuidOnA(cfg.host));
        assert.ok(cert.verify(ca.publicKey));
        assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(key))));
      } finally { await hc.close(); }
      // The CA's key stays on the master, readable by its user only.
      assert.equal(statSync(join(A.dir, 'ovn-pki', 'pool-ca.key')).mode & 0o777, 0o600);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  test('its host credential records management changes for its own host\'s PIFs only (emergency mode, reset-networking)', async () => {
    const cfg = memberCfg(B);
    const pifsOf = (host: string) => [...store(A).all('PIF')].filter(([, p]) => p.host === host);
    const [masterPif, masterRec] = pifsOf(A.master.host).find(([, p]) => p.management === true)!;
    const [ownMgmt] = pifsOf(cfg.host).find(([, p]) => p.management === true)!;
    const [ownOther] = pifsOf(cfg.host).find(([, p]) => p.management !== true)!;
    const hc = await XapiClient.connect({ target: A.url, user: '', password: '', hostCredential: { host: cfg.host, secret: cfg.secret } });
    try {
      // Another host's PIF: refused, naming the PIF and its host, and nothing changes.
      const before = JSON.stringify(store(A).get('PIF', masterPif));
      const denied = new RegExp(`pool credential of host ${cfg.host} may act only for that host, not for PIF ${masterPif} of host ${A.master.host}`);
      const e = await assertApiError(hc.call('PIF.reconfigure_ip', masterPif, 'Static', '192.0.2.99', '255.255.255.0', '', ''), 'RBAC_PERMISSION_DENIED');
      assert.equal(e.params[0], 'PIF.reconfigure_ip');
      assert.match(String(e.params[1]), denied);
      await assertApiError(hc.call('Async.PIF.reconfigure_ip', masterPif, 'Static', '192.0.2.99', '255.255.255.0', '', ''), 'RBAC_PERMISSION_DENIED');
      const [otherOfMaster] = pifsOf(A.master.host).find(([, p]) => p.management !== true)!;
      const m = await assertApiError(hc.call('host.management_reconfigure', otherOfMaster), 'RBAC_PERMISSION_DENIED');
      assert.deepEqual([m.params[0], /may act only for that host, not for PIF/.test(String(m.params[1]))], ['host.management_reconfigure', true]);
      assert.equal(JSON.stringify(store(A).get('PIF', masterPif)), before);
      assert.equal(store(A).get('PIF', otherOfMaster).management, false);
      assert.equal(masterRec.management, true);
      // Still no other write, on its own PIF either.
      await assertApiError(hc.call('PIF.reconfigure_ipv6', ownOther, 'Static', 'fd00::9/64', '', ''), 'RBAC_PERMISSION_DENIED');
      await assertApiError(hc.call('PIF.set_other_config', ownOther, {}), 'RBAC_PERMISSION_DENIED');
      // Its own PIFs: done.
      await hc.call('PIF.reconfigure_ip', ownOther, 'Static', '198.51.100.77', '255.255.255.0', '', '');
      assert.equal(store(A).get('PIF', ownOther).IP, '198.51.100.77');
      await hc.call('host.management_reconfigure', ownMgmt);
    } finally { await hc.close(); }
  });

  test('pool.rotate_secret: the member collects its new secret, the old one then fails, the agent carries on', async () => {
    const bRef = hostRefOf(A, ownUuid(B))!;
    const old = memberCfg(B).secret;
    await A.client.call('pool.rotate_secret');
    const fresh = await until('B to collect its new secret', () => { const s = memberCfg(B).secret; return s !== old ? s : undefined; });
    await until('the old secret to be retired', async () => {
      try {
        const c = await XapiClient.connect({ target: A.url, user: '', password: '', hostCredential: { host: bRef, secret: old } });
        await c.close();
        return undefined;
      } catch (e) { return (e as { code?: string }).code === 'SESSION_AUTHENTICATION_FAILED' ? true : undefined; }
    });
    const c = await XapiClient.connect({ target: A.url, user: '', password: '', hostCredential: { host: bRef, secret: fresh } });
    await c.close();
    // The agent still realises: a network's change reaches it.
    const since = A.master.server.sessions.hostLastActive(bRef);
    await until('B\'s agent to use its session again', () => A.master.server.sessions.hostLastActive(bRef) > since);
  });

  test('the master cannot be ejected, nor forgotten', async () => {
    const before = dbSnapshot(A);
    await assertApiError(A.client.call('pool.eject', A.master.host), 'OPERATION_NOT_ALLOWED', ['Cannot eject the pool master']);
    await assertApiError(A.client.call('host.destroy', A.master.host), 'HOST_IS_LIVE', [A.master.host]);
    const bRef = hostRefOf(A, ownUuid(B))!;
    await assertApiError(A.client.call('host.destroy', bRef), 'HOST_IS_LIVE', [bRef]);
    assert.equal(dbSnapshot(A), before);
  });

  test('pool.eject: its objects leave the pool, it is standalone again with its management interface, and it can re-join', async () => {
    const bUuid = ownUuid(B);
    const bRef = hostRefOf(A, bUuid)!;
    const mgmtBefore = [...store(A).all('PIF')].find(([, p]) => p.host === bRef && p.management === true)![1];
    await A.client.call('pool.eject', bRef);
    assert.equal(hostRefOf(A, bUuid), undefined);
    assert.equal([...store(A).all('PIF')].filter(([, p]) => p.host === bRef).length, 0);
    assert.equal([...store(A).all('VM')].filter(([, v]) => v.resident_on === bRef).length, 0);
    await until('B to be standalone', () => !existsSync(memberFile(B)) && B.master.member === undefined && B.master.agent !== undefined);
    const c = await XapiClient.connect({ target: B.url, user: 'root', password: ROOT_PASSWORD });
    try {
      const pifs = Object.values(await c.call<Record<string, Record<string, unknown>>>('PIF.get_all_records'));
      const mgmt = pifs.find((p) => p.management === true);
      assert.equal(mgmt?.device, mgmtBefore.device);
      assert.equal(mgmt?.ip_configuration_mode, mgmtBefore.ip_configuration_mode);
      assert.equal((await c.call<string[]>('host.get_all')).length, 1);
    } finally { await c.close(); }
    B.client = await XapiClient.connect({ target: B.url, user: 'root', password: ROOT_PASSWORD });
    await join_(B, `127.0.0.1:${port}`);
    assert.ok(hostRefOf(A, bUuid), 'B is a member again');
    await until('B\'s agent to report again', () => A.master.server.hub.hasAgent(hostRefOf(A, bUuid)!));
  });

  test('host.destroy forgets a dead member', async () => {
    // A host the master admitted but whose agent never came: not alive.
    const dead = await A.client.call<{ host: string }>('pool.admit_host', {
      uuid: '00000000-0000-4000-8000-00000000dead', name_label: 'dead', hostname: 'dead', address: '',
      API_version_major: 2, API_version_minor: 23,
      PIFs: [{ uuid: '00000000-0000-4000-8000-0000000000e0', device: 'eth0', MAC: '02:00:00:00:00:01', MTU: 1500, management: true,
        ip_configuration_mode: 'DHCP', IP: '', netmask: '', gateway: '', DNS: '' }],
    });
    assert.equal([...store(A).all('PIF')].filter(([, p]) => p.host === dead.host).length, 1);
    await A.client.call('host.destroy', dead.host);
    assert.equal(store(A).find('host', dead.host), undefined);
    assert.equal([...store(A).all('PIF')].filter(([, p]) => p.host === dead.host).length, 0);
  });
});
