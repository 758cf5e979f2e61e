// pool.recover_slaves over TLS: the master calls its member at the member's management address,
// checking the certificate the member joined with, and proves itself with the member's recovery
// proof; the member then follows the master at the master's current address. Everyone else is
// refused with a clear error and changes nothing: a wrong proof, a proof for another host, a
// session the member never gave, a bad address, the call on a master or on a member.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { XapiClient } from '../../src/client/index.js';
import { MEMBER_FILE, type MasterTrust, type MemberConfig } from '../../src/server/member.js';
import { recoveryProof } from '../../src/protocol/pool-recovery.js';
import { waitFor } from '../../src/lab/pool.js';
import { API_VERSION } from '../../src/server/boot.js';
import { ROOT_PASSWORD, StandaloneHosts, assertApiError } from '../support/master.js';

const hosts = new StandaloneHosts('recover');
after(() => hosts.close());

const MASTER_IP = '127.0.0.21';
const MEMBER_IP = '127.0.0.22';
/** An address nothing listens on: where the member is sent first, so that it loses its master. */
const NOWHERE_IP = '127.0.0.23';

async function host(name: string, ip: string, port: number, extra: { masterTrust?: MasterTrust } = {}) {
  const h = await hosts.start(name, ip, { port, ...extra });
  const client = await XapiClient.connect({ target: `unix:${h.master.socketPath}`, user: 'root', password: '' });
  return Object.assign(h, { client });
}

/** Gives a host's management PIF this static address (host.address follows it). */
async function manageAt(c: XapiClient, ip: string): Promise<void> {
  const pifs = await c.call<Record<string, { management: boolean }>>('PIF.get_all_records');
  const [ref] = Object.entries(pifs).find(([, p]) => p.management)!;
  await c.call('PIF.reconfigure_ip', ref, 'Static', ip, '255.0.0.0', '', '');
}

/** The member's membership file, but for the management configuration it keeps up to date. */
const memberFile = (dir: string): string => {
  const { management: _, ...rest } = JSON.parse(readFileSync(join(dir, MEMBER_FILE), 'utf8')) as MemberConfig;
  return JSON.stringify(rest);
};

test('recover_slaves tells a member the master\'s address; wrong proofs, sessions and addresses are refused and change nothing', async () => {
  const A = await host('recA', MASTER_IP, 0);
  const port = A.master.listener.tcpPort!;
  await manageAt(A.client, MASTER_IP);
  const B = await host('recB', MEMBER_IP, port, { masterTrust: { fingerprint: A.master.fingerprint() } });
  await manageAt(B.client, MEMBER_IP);
  await B.client.call('pool.join', `${MASTER_IP}:${port}`, 'root', ROOT_PASSWORD);
  const cfg = JSON.parse(memberFile(B.dir)) as MemberConfig;
  const joined = memberFile(B.dir);

  // The master kept the certificate the member serves, as the member's Certificate record.
  const certs = await A.client.call<Record<string, { host: string; type: string; fingerprint: string }>>('Certificate.get_all_records');
  assert.deepEqual(Object.values(certs).map((c) => [c.host, c.type, c.fingerprint]), [[cfg.host, 'host', B.master.fingerprint()]]);

  // Callers other than the master, on the member's TLS listener (its certificate checked).
  const memberUrl = `https://${MEMBER_IP}:${port}`;
  const trust = { fingerprint: B.master.fingerprint() };
  const key = createHash('sha256').update(cfg.secret).digest();
  const asMaster = (proof: string) => XapiClient.connect({ target: memberUrl, user: '', password: '', poolProof: proof, trust });
  await assertApiError(asMaster(recoveryProof(createHash('sha256').update('not the secret').digest(), cfg.host)), 'SESSION_AUTHENTICATION_FAILED');
  await assertApiError(asMaster(recoveryProof(key, 'OpaqueRef:another-host')), 'SESSION_AUTHENTICATION_FAILED');
  await assertApiError(asMaster('x'.repeat(64)), 'SESSION_AUTHENTICATION_FAILED');
  // A user's login is not a recovery session: the member names its master, as to every call.
  await assertApiError(XapiClient.connect({ target: memberUrl, user: 'root', password: ROOT_PASSWORD, trust }), 'HOST_IS_SLAVE', [MASTER_IP]);
  const raw = await XapiClient.connect({ target: memberUrl, user: '', password: '', poolProof: recoveryProof(key, cfg.host), trust });
  try {
    await assertApiError(raw.call('pool.recover_slaves'), 'HOST_IS_SLAVE', [MASTER_IP]);
    for (const bad of ['1.2.3.999', '', 'a b', '-x.example', 'x'.repeat(300), 'https://10.0.0.1']) {
      await assertApiError(raw.call('pool.emergency_reset_master', bad), 'INVALID_VALUE');
    }
    assert.equal(memberFile(B.dir), joined, 'a refused address changes nothing');
  } finally { await raw.close(); }
  const stranger = await XapiClient.connect({ target: memberUrl, user: '', password: '', poolProof: recoveryProof(key, cfg.host), trust });
  await stranger.close(); // logged out: its session is gone
  await assertApiError(stranger.call('pool.emergency_reset_master', NOWHERE_IP), 'SESSION_INVALID');
  assert.equal(memberFile(B.dir), joined, 'a call without a live session changes nothing');

  // On the master (or a standalone host) emergency_reset_master is refused: it has no master.
  await assertApiError(A.client.call('pool.emergency_reset_master', NOWHERE_IP), 'OPERATION_NOT_ALLOWED');
  const pool = Object.values(await A.client.call<Record<string, { master: string }>>('pool.get_all_records'))[0]!;
  assert.equal(await A.client.call('host.get_address', pool.master), MASTER_IP, 'the master is where it was');

  // A member whose certificate the master does not know (as one joined with an older version)
  // records it after its next login: here the one after it collects a rotated secret.
  A.master.server.store.transact((tx) => { for (const [ref] of tx.all('Certificate')) tx.destroy('Certificate', ref); });
  await A.client.call('pool.rotate_secret');
  await waitFor('the member to record its certificate again', 20_000, async () => {
    const again = await A.client.call<Record<string, { host: string; fingerprint: string }>>('Certificate.get_all_records');
    return Object.values(again).some((c) => c.host === cfg.host && c.fingerprint === B.master.fingerprint()) ? true : undefined;
  });
  await waitFor('the member to use its new secret', 20_000, () => (memberFile(B.dir) !== joined ? true : undefined));
  const rotated = JSON.parse(memberFile(B.dir)) as MemberConfig;

  // The member loses its master: told on its own socket that the master is where nothing listens.
  await B.client.call('pool.emergency_reset_master', NOWHERE_IP);
  assert.equal((JSON.parse(memberFile(B.dir)) as MemberConfig).master, `https://${NOWHERE_IP}:${port}`);
  await assertApiError(B.client.call('host.get_all'), 'HOST_IS_SLAVE', [NOWHERE_IP]);
  const lost = Date.now();

  // recover_slaves on the master brings it back: the member follows the master's address.
  assert.deepEqual(await A.client.call('pool.recover_slaves'), [cfg.host]);
  const now = JSON.parse(memberFile(B.dir)) as MemberConfig;
  assert.deepEqual(now, { ...rotated, master: `https://${MASTER_IP}:${port}`, masterAddress: MASTER_IP },
    'the same membership (host, secret, pinned master certificate) at the master\'s address');
  await assertApiError(B.client.call('host.get_all'), 'HOST_IS_SLAVE', [MASTER_IP]);
  await waitFor('the member to log in to its master again', 20_000, () => (A.master.server.sessions.hostLastActive(cfg.host) > lost ? true : undefined));
});

test('a member that trusts its master through a CA takes a new address only on its own socket', async () => {
  const A = await host('recK', '127.0.0.32', 0);
  const port = A.master.listener.tcpPort!;
  await manageAt(A.client, '127.0.0.32');
  // The master's self-signed certificate (it names 127.0.0.32) as the member's CA file.
  const B = await host('recL', '127.0.0.33', port, { masterTrust: { ca: readFileSync(join(A.dir, 'server.pem'), 'utf8') } });
  await manageAt(B.client, '127.0.0.33');
  await B.client.call('pool.join', `127.0.0.32:${port}`, 'root', ROOT_PASSWORD);
  const cfg = JSON.parse(memberFile(B.dir)) as MemberConfig;
  const joined = memberFile(B.dir);

  // A valid proof still gets a session, but not a reset: with a CA, a forged reset could send the
  // member (and its credential) to any server that CA signed a certificate for.
  const key = createHash('sha256').update(cfg.secret).digest();
  const raw = await XapiClient.connect({ target: `https://127.0.0.33:${port}`, user: '', password: '', poolProof: recoveryProof(key, cfg.host),
    trust: { fingerprint: B.master.fingerprint() } });
  try {
    await assertApiError(raw.call('pool.emergency_reset_master', NOWHERE_IP), 'OPERATION_NOT_ALLOWED');
  } finally { await raw.close(); }
  assert.equal(memberFile(B.dir), joined, 'a refused reset changes nothing');
  assert.deepEqual(await A.client.call('pool.recover_slaves'), [], 'the master does not move it either');
  assert.equal(memberFile(B.dir), joined);

  // The operator on the member may.
  await B.client.call('pool.emergency_reset_master', NOWHERE_IP);
  assert.equal((JSON.parse(memberFile(B.dir)) as MemberConfig).master, `https://${NOWHERE_IP}:${port}`);
});

/**
 * A TCP relay to the master: its old address. While held, new connections wait unrelayed (a
 * login in flight); `open` counts the connections through it that are still open.
 */
async function relay(host: string, port: number, to: { host: string; port: number }) {
  const open = new Set<Socket>();
  let held: Socket[] | undefined;
  const pass = (s: Socket): void => {
    const up = connect(to);
    s.pipe(up).pipe(s);
    up.on('error', () => s.destroy()).on('close', () => s.destroy());
    s.on('close', () => up.destroy());
  };
  const server = createServer((s) => {
    open.add(s);
    s.on('error', () => s.destroy()).on('close', () => open.delete(s));
    if (held) held.push(s); else pass(s);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  return {
    hold: (): void => { held = []; },
    held: (): number => held?.length ?? 0,
    release: (): void => { const h = held ?? []; held = undefined; for (const s of h) pass(s); },
    open: (): number => open.size,
    close: (): Promise<void> => { for (const s of open) s.destroy(); return new Promise((resolve) => server.close(() => resolve())); },
  };
}

test('a member told the master\'s new address while it logs in with a rotated secret keeps the new address', async () => {
  const A = await host('recR', '127.0.0.34', 0);
  const port = A.master.listener.tcpPort!;
  await manageAt(A.client, '127.0.0.34');
  const old = await relay('127.0.0.35', port, { host: '127.0.0.34', port });
  try {
    const B = await host('recS', '127.0.0.36', port, { masterTrust: { fingerprint: A.master.fingerprint() } });
    await manageAt(B.client, '127.0.0.36');
    await B.client.call('pool.join', `127.0.0.35:${port}`, 'root', ROOT_PASSWORD);
    const joined = JSON.parse(memberFile(B.dir)) as MemberConfig;
    await waitFor('the member to log in at the old address', 20_000, () => (A.master.server.sessions.hostLastActive(joined.host) > 0 ? true : undefined));

    // The member collects a rotated secret and logs in with it at the old address: held there.
    old.hold();
    await A.client.call('pool.rotate_secret');
    await waitFor('the member to collect its new secret', 20_000, () => ((JSON.parse(memberFile(B.dir)) as MemberConfig).secret !== joined.secret ? true : undefined));
    await waitFor('its login at the old address', 20_000, () => (old.held() > 0 ? true : undefined));
    // Meanwhile it is told the master's new address; then the old address answers the login.
    await B.client.call('pool.emergency_reset_master', '127.0.0.34');
    old.release();

    // The session from the old address is dropped: the member talks to the new one only.
    await waitFor('the member to leave the old address', 15_000, () => (old.open() === 0 ? true : undefined));
    const left = Date.now();
    await waitFor('the member to log in at the new address', 20_000, () => (A.master.server.sessions.hostLastActive(joined.host) > left ? true : undefined));
    assert.equal(old.open(), 0, 'nothing went back to the old address');
    assert.equal((JSON.parse(memberFile(B.dir)) as MemberConfig).master, `https://127.0.0.34:${port}`);
  } finally { await old.close(); }
});

test('recover_slaves skips a member it cannot check or reach, and answers with the others', async () => {
  const A = await host('recM', '127.0.0.25', 0);
  const port = A.master.listener.tcpPort!;
  await manageAt(A.client, '127.0.0.25');
  // A member admitted without a certificate (as by a version before this one), and one whose
  // address answers nothing: neither is recovered, and the call still answers.
  for (const [name, address] of [['old', '127.0.0.26'], ['gone', '127.0.0.27']] as const) {
    const uuid = crypto.randomUUID();
    await A.client.call('pool.admit_host', {
      uuid, name_label: name, hostname: name, address, API_version_major: API_VERSION.major, API_version_minor: API_VERSION.minor, PIFs: [],
      ...(name === 'gone' ? { certificate_fingerprint: A.master.fingerprint() } : {}),
    });
  }
  // And a real member, joined after them: it is recovered all the same.
  const B = await host('recN', '127.0.0.28', port, { masterTrust: { fingerprint: A.master.fingerprint() } });
  await manageAt(B.client, '127.0.0.28');
  await B.client.call('pool.join', `127.0.0.25:${port}`, 'root', ROOT_PASSWORD);
  const cfg = JSON.parse(memberFile(B.dir)) as MemberConfig;
  await B.client.call('pool.emergency_reset_master', NOWHERE_IP);
  assert.deepEqual(await A.client.call('pool.recover_slaves'), [cfg.host]);
  assert.equal((JSON.parse(memberFile(B.dir)) as MemberConfig).master, `https://127.0.0.25:${port}`);
});

test('only a member\'s own pool credential records its certificate, and only a fingerprint', async () => {
  const A = await host('recC', '127.0.0.28', 0);
  const port = A.master.listener.tcpPort!;
  const admitted: Array<{ host: string; secret: string }> = [];
  for (const name of ['one', 'two']) {
    admitted.push(await A.client.call('pool.admit_host', {
      uuid: crypto.randomUUID(), name_label: name, hostname: name, address: '127.0.0.29', API_version_major: API_VERSION.major,
      API_version_minor: API_VERSION.minor, PIFs: [],
    }));
  }
  const [one, two] = admitted as [{ host: string; secret: string }, { host: string; secret: string }];
  const fp = A.master.fingerprint();
  const asOne = await XapiClient.connect({ target: `https://127.0.0.28:${port}`, user: '', password: '', hostCredential: one, trust: { fingerprint: fp } });
  try {
    await assertApiError(asOne.call('host.report_server_certificate', two.host, fp), 'RBAC_PERMISSION_DENIED');
    await assertApiError(asOne.call('host.report_server_certificate', one.host, 'ab:cd'), 'INVALID_VALUE');
    await assertApiError(A.client.call('host.report_server_certificate', one.host, fp), 'RBAC_PERMISSION_DENIED');
    assert.deepEqual(await A.client.call('Certificate.get_all'), [], 'no refused call recorded anything');
    await asOne.call('host.report_server_certificate', one.host, fp);
    await asOne.call('host.report_server_certificate', one.host, fp);
    const certs = Object.values(await A.client.call<Record<string, { host: string; fingerprint: string }>>('Certificate.get_all_records'));
    assert.deepEqual(certs.map((c) => [c.host, c.fingerprint]), [[one.host, fp]], 'one record per host, kept when the same');
  } finally { await asOne.close(); }
});
