// The pool OVN CA with Debian's openssl, and xcpnet's OVSDB client over TLS to a real
// ovsdb-server (pssl: on loopback, a temporary directory, no root): the master's certificate is
// let in, one of another CA is not; a CA that went missing is made again and the master's
// certificate renewed with it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { MAX_WAITING_REQUESTS, OvnCa } from './ovn-ca.js';
import { CENTRAL_CN, commonNameOf, sslOptions } from '../common/ovn-pki.js';
import { OvsdbClient } from '../backends/ovsdb/index.js';
import * as ops from '../backends/ovsdb/ops.js';

const dir = mkdtempSync(join(tmpdir(), 'xcpt-ovn-ca-'));
const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const HOST = '6b1c8a2e-0000-4000-8000-000000000001';

test('the CA signs a host\'s request naming the host\'s uuid; refuses what is not one request', async () => {
  const ca = new OvnCa(join(dir, 'sign'));
  const key = join(dir, 'host.key');
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key], { stdio: 'ignore' });
  const csr = execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=someone-else'], { encoding: 'utf8' });
  const [cert, caCert] = (await ca.sign(csr, HOST)).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!.map((b) => new X509Certificate(b));
  assert.equal(commonNameOf(cert!), HOST);
  assert.ok(cert!.verify(caCert!.publicKey) && caCert!.ca);
  assert.equal(statSync(join(dir, 'sign', 'pool-ca.key')).mode & 0o777, 0o600);
  await assert.rejects(ca.sign(csr, 'not-a-uuid'), (e: { code?: string }) => e.code === 'INVALID_VALUE');
  await assert.rejects(ca.sign(`${csr}junk`, HOST), (e: { code?: string }) => e.code === 'INVALID_VALUE');
  await assert.rejects(ca.sign('x'.repeat(20_000), HOST), (e: { code?: string }) => e.code === 'INVALID_VALUE');
});

test('requests waiting beyond the bound are TOO_BUSY; the others are signed', { timeout: 120_000 }, async () => {
  const ca = new OvnCa(join(dir, 'busy'));
  const key = join(dir, 'busy.key');
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key], { stdio: 'ignore' });
  const csr = execFileSync('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${HOST}`], { encoding: 'utf8' });
  const results = await Promise.allSettled(Array.from({ length: MAX_WAITING_REQUESTS + 2 }, () => ca.sign(csr, HOST)));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, MAX_WAITING_REQUESTS);
  assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => (r.reason as { code?: string }).code), ['TOO_BUSY', 'TOO_BUSY']);
  await ca.sign(csr, HOST);
});

test('TLS to ovsdb-server: the master\'s certificate is let in, another CA\'s is not; a missing CA is made again', { timeout: 60_000 }, async () => {
  const ca = new OvnCa(join(dir, 'pool'));
  const central = await ca.ensureCentral();
  assert.equal(commonNameOf(new X509Certificate(readFileSync(central.cert))), CENTRAL_CN);
  for (const f of [central.key, central.ca]) assert.equal(statSync(f).mode & 0o777, 0o600);
  const schema = join(dir, 't.ovsschema');
  writeFileSync(schema, JSON.stringify({ name: 'T', version: '1.0.0', tables: { R: { columns: { n: { type: 'integer' } }, isRoot: true } } }));
  execFileSync('ovsdb-tool', ['create', join(dir, 't.db'), schema]);
  const port = await freePort();
  const server = spawn('ovsdb-server', [join(dir, 't.db'), `--remote=pssl:${port}:127.0.0.1`, ...sslOptions(central), '--no-chdir',
    `--unixctl=${join(dir, 't.ctl')}`, `--log-file=${join(dir, 't.log')}`], { stdio: 'ignore' });
  procs.push(server);
  const target = `ssl:127.0.0.1:${port}`;
  const client = await OvsdbClient.connect(target, { tls: { ...central, serverNames: [CENTRAL_CN] }, connectTimeoutMs: 10_000 });
  try {
    await client.transact('T', [ops.insert('R', { n: 1 })]);
    assert.deepEqual((await client.transact('T', [ops.select('R', [], ['n'])]))[0]!.rows!.map((r) => r.n), [1]);
  } finally { client.close(); }

  // Another pool's CA (as good as a self-signed certificate): the server refuses its certificate.
  const other = await new OvnCa(join(dir, 'other')).ensureCentral();
  const mixed = { key: other.key, cert: other.cert, ca: central.ca, serverNames: [CENTRAL_CN] };
  await assert.rejects(async () => {
    const c = await OvsdbClient.connect(target, { tls: mixed, reconnect: false });
    try { await c.transact('T', [ops.select('R', [], ['n'])]); } finally { c.close(); }
  }, /alert unknown ca/, 'a certificate of another CA is refused by the server (TLS alert 48)');

  // The same CA signs the chassis: a server whose certificate names someone the client does not
  // expect (here the master's, where a host's database is expected) is refused by the client.
  await assert.rejects(OvsdbClient.connect(target, { tls: { ...central, serverNames: [HOST] }, reconnect: false }),
    new RegExp(`names "${CENTRAL_CN}", not one of ${HOST}`));

  // The CA's files are lost: a new CA, and the master's certificate is renewed under it.
  const told: string[] = [];
  const unsubscribe = ca.onNewCa((fp) => told.push(fp));
  const before = readFileSync(central.ca, 'utf8');
  rmSync(join(dir, 'pool', 'pool-ca.key'));
  rmSync(central.ca);
  await ca.ensureCentral();
  const newCa = new X509Certificate(readFileSync(central.ca));
  assert.notEqual(readFileSync(central.ca, 'utf8'), before);
  assert.ok(new X509Certificate(readFileSync(central.cert)).verify(newCa.publicKey), 'the master\'s certificate is signed by the new CA');
  assert.deepEqual(told, [newCa.fingerprint256], 'the master is told the new CA (to publish it)');

  // Lost again, and this time a host's signing request makes the new CA: the master is told too.
  rmSync(join(dir, 'pool', 'pool-ca.key'));
  rmSync(central.ca);
  const key = join(dir, 'again.key');
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key], { stdio: 'ignore' });
  await ca.sign(execFileSync('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${HOST}`], { encoding: 'utf8' }), HOST);
  assert.deepEqual(told, [newCa.fingerprint256, new X509Certificate(readFileSync(central.ca)).fingerprint256]);
  assert.notEqual(told[1], told[0]);
  unsubscribe();
});
