// A host's OVN key and certificate, signed by a real pool CA (src/sdn/ovn-ca.ts) in-process as
// host.sign_ovn_certificate would: made once, kept, renewed when the pool's CA changes, and an
// answer that is not this host's certificate refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { HostOvnPki } from './ovn-pki.js';
import { OvnCa } from '../../sdn/ovn-ca.js';

const dir = mkdtempSync(join(tmpdir(), 'xcpt-host-pki-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const HOST = '6b1c8a2e-0000-4000-8000-000000000001';
const quiet = () => undefined;
const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

test('made once with a key that stays here, kept, renewed for a new pool CA', { timeout: 60_000 }, async () => {
  let ca = new OvnCa(join(dir, 'ca1'));
  const requests: string[] = [];
  const pki = new HostOvnPki(join(dir, 'host'), HOST, async (csr) => { requests.push(csr); return ca.sign(csr, HOST); }, quiet);
  const f = await pki.ensure();
  assert.equal(requests.length, 1);
  assert.ok(!requests[0]!.includes('PRIVATE KEY'), 'only the request travels');
  for (const file of [f.key, f.cert, f.ca]) assert.equal(statSync(file).mode & 0o777, 0o600);
  const cert = new X509Certificate(readFileSync(f.cert));
  assert.ok(cert.verify(new X509Certificate(readFileSync(f.ca)).publicKey));
  await pki.ensure(fingerprint(f.ca));
  assert.equal(requests.length, 1, 'a valid certificate of the published CA is kept');
  // The master's CA is made again: the published fingerprint changes, the host asks again.
  ca = new OvnCa(join(dir, 'ca2'));
  await ca.ensureCentral();
  const next = fingerprint(ca.central.ca);
  await pki.ensure(next);
  assert.equal(requests.length, 2);
  assert.equal(fingerprint(f.ca), next);
  assert.ok(new X509Certificate(readFileSync(f.cert)).verify(new X509Certificate(readFileSync(f.ca)).publicKey));
});

test('an answer that is not this host\'s certificate is refused and nothing is replaced', { timeout: 60_000 }, async () => {
  const ca = new OvnCa(join(dir, 'ca3'));
  const other = '6b1c8a2e-0000-4000-8000-000000000002';
  const pki = new HostOvnPki(join(dir, 'host2'), HOST, (csr) => ca.sign(csr, other), quiet);
  await assert.rejects(pki.ensure(), /names "6b1c8a2e-0000-4000-8000-000000000002", not 6b1c8a2e-0000-4000-8000-000000000001/);
  assert.throws(() => statSync(join(dir, 'host2', 'chassis.pem')), 'no certificate written');
  const none = new HostOvnPki(join(dir, 'host3'), HOST, undefined, quiet);
  await assert.rejects(none.ensure(), /no master to sign/);
});

test('a published fingerprint the master\'s CA does not match: asked once, then the held certificate is kept', { timeout: 60_000 }, async () => {
  const ca = new OvnCa(join(dir, 'ca4'));
  const requests: string[] = [];
  const logged: string[] = [];
  const pki = new HostOvnPki(join(dir, 'host4'), HOST, async (csr) => { requests.push(csr); return ca.sign(csr, HOST); }, (l) => logged.push(l));
  const wrong = Array(32).fill('AB').join(':');
  const f = await pki.ensure(wrong);
  assert.equal(requests.length, 1);
  assert.ok(new X509Certificate(readFileSync(f.cert)).verify(new X509Certificate(readFileSync(f.ca)).publicKey), 'the master\'s answer is installed');
  const signedAt = statSync(f.cert).mtimeMs;
  await pki.ensure(wrong);
  await pki.ensure(wrong);
  assert.equal(requests.length, 1, 'not asked again for the same published value');
  assert.equal(statSync(f.cert).mtimeMs, signedAt, 'the certificate is not replaced (ovn-controller is not restarted)');
  assert.equal(logged.filter((l) => l.includes(`not the published ${wrong}`)).length, 1, 'said once');
  // The master publishes its CA's fingerprint after all: the held certificate is of it, kept.
  await pki.ensure(fingerprint(f.ca));
  assert.equal(requests.length, 1);
});

test('the master cannot sign (TOO_BUSY, unreachable): a held certificate still valid is kept; none held is an error', { timeout: 60_000 }, async () => {
  const ca = new OvnCa(join(dir, 'ca5'));
  let masterAnswers = true;
  let requests = 0;
  const logged: string[] = [];
  const signer = async (csr: string) => {
    requests++;
    if (!masterAnswers) throw new Error('TOO_BUSY');
    return ca.sign(csr, HOST);
  };
  const pki = new HostOvnPki(join(dir, 'host5'), HOST, signer, (l) => logged.push(l));
  const f = await pki.ensure();
  const held = readFileSync(f.cert, 'utf8');
  masterAnswers = false;
  // The master's CA changed, and it cannot sign now: the held certificate serves meanwhile.
  const other = new OvnCa(join(dir, 'ca6'));
  await other.ensureCentral();
  assert.deepEqual(await pki.ensure(fingerprint(other.central.ca)), f);
  await pki.ensure(fingerprint(other.central.ca));
  assert.equal(requests, 3, 'asked again each pass (the master may answer next time)');
  assert.equal(readFileSync(f.cert, 'utf8'), held);
  assert.equal(logged.filter((l) => l.includes('not renewed (TOO_BUSY)')).length, 1, 'said once');
  const none = new HostOvnPki(join(dir, 'host6'), HOST, signer, quiet);
  await assert.rejects(none.ensure(), /TOO_BUSY/);
  // An expired certificate is no longer kept.
  await assert.rejects(pki.ensure(undefined, new Date(Date.now() + 3 * 365 * 24 * 3600_000)), /TOO_BUSY/);
});

test('a certificate found good is not read again for an hour while its files stay as they were', { timeout: 60_000 }, async () => {
  const ca = new OvnCa(join(dir, 'ca7'));
  const requests: string[] = [];
  const pki = new HostOvnPki(join(dir, 'host7'), HOST, async (csr) => { requests.push(csr); return ca.sign(csr, HOST); }, quiet);
  const f = await pki.ensure();
  // A minute on: the certificate's start (openssl's, in whole seconds) is behind whatever comes.
  const t0 = new Date(Date.now() + 60_000);
  await pki.ensure(undefined, t0);
  assert.equal(requests.length, 1);
  // The certificate spoiled behind the agent's back, in place, its size and time kept: within
  // the hour it is not read; after it, it is, and renewed.
  const { atimeMs, mtimeMs, size } = statSync(f.cert);
  writeFileSync(f.cert, 'x'.repeat(size));
  utimesSync(f.cert, atimeMs / 1000, mtimeMs / 1000); // in seconds: a Date would round to the millisecond
  await pki.ensure(undefined, new Date(t0.getTime() + 30 * 60_000));
  assert.equal(requests.length, 1, 'taken as good within the hour');
  await pki.ensure(undefined, new Date(t0.getTime() + 61 * 60_000));
  assert.equal(requests.length, 2, 'read again after it');
  // A file changed (its time with it) is read at once.
  writeFileSync(f.cert, 'garbage\n');
  await pki.ensure(undefined, new Date(t0.getTime() + 62 * 60_000));
  assert.equal(requests.length, 3, 'a changed file is read at the next pass');
});
