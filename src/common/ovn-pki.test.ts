// The checks an agent makes on the certificate the master signed for it, and when it renews.
// Fixtures are made with Debian's openssl (a CA, a host key, certificates of several kinds).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { checkSigned, csrBlock, MAX_CSR_CHARS, needsRenewal } from './ovn-pki.js';

const dir = mkdtempSync(join(tmpdir(), 'xcpt-ovn-pki-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const HOST = '6b1c8a2e-0000-4000-8000-000000000001';
const ssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const file = (n: string) => join(dir, n);

function key(name: string): string {
  ssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file(name));
  return createPublicKey(readFileSync(file(name))).export({ type: 'spki', format: 'pem' }) as string;
}
function ca(name: string): string {
  key(`${name}.key`);
  return ssl('req', '-x509', '-new', '-key', file(`${name}.key`), '-subj', `/CN=${name}`, '-days', '400',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-out', file(`${name}.pem`)) + readFileSync(file(`${name}.pem`), 'utf8');
}
/** A certificate for the key in `keyFile`, named `cn`, signed by CA `by`, valid `days`. */
function signed(keyFile: string, cn: string, by: string, days: number): string {
  ssl('req', '-new', '-key', file(keyFile), '-subj', `/CN=${cn}`, '-out', file('r.csr'));
  return ssl('x509', '-req', '-in', file('r.csr'), '-CA', file(`${by}.pem`), '-CAkey', file(`${by}.key`), '-set_serial', '7', '-days', String(days));
}

const hostPub = key('host.key');
const poolCa = ca('pool');
const otherCa = ca('other');
const now = new Date();

test('csrBlock: exactly one PEM request, bounded', () => {
  ssl('req', '-new', '-key', file('host.key'), '-subj', `/CN=${HOST}`, '-out', file('h.csr'));
  const csr = readFileSync(file('h.csr'), 'utf8');
  assert.deepEqual(csrBlock(csr), { pem: csr.trim() + '\n' });
  const notOne = { error: 'not one PEM certificate request' };
  assert.deepEqual(csrBlock(`${csr}${csr}`), notOne);
  assert.deepEqual(csrBlock(`junk\n${csr}`), notOne);
  assert.deepEqual(csrBlock(poolCa), notOne, 'a certificate is not a request');
  assert.deepEqual(csrBlock(`${csr}${' '.repeat(MAX_CSR_CHARS)}`), { error: `longer than ${MAX_CSR_CHARS} characters` });
});

test('checkSigned: the host\'s own key, its name, signed by the CA sent with it, not expired', () => {
  const good = signed('host.key', HOST, 'pool', 30);
  assert.deepEqual(checkSigned(good + poolCa, HOST, hostPub, now), { cert: good.trim() + '\n', ca: poolCa.trim() + '\n' });
  assert.deepEqual(checkSigned(good, HOST, hostPub, now), { error: '1 certificates in the answer, not 2 (the host\'s, the pool CA\'s)' });
  assert.deepEqual(checkSigned(good + otherCa, HOST, hostPub, now), { error: 'the certificate is not signed by the pool CA' });
  const other = '6b1c8a2e-0000-4000-8000-000000000002';
  assert.deepEqual(checkSigned(good + poolCa, other, hostPub, now), { error: `the certificate names "${HOST}", not ${other}` });
  key('stranger.key');
  const strangers = signed('stranger.key', HOST, 'pool', 30);
  assert.deepEqual(checkSigned(strangers + poolCa, HOST, hostPub, now), { error: 'the certificate is not for this host\'s key' });
  assert.deepEqual(checkSigned(good + good, HOST, hostPub, now), { error: 'the pool CA certificate is not a CA' });
  assert.deepEqual(checkSigned(good + poolCa, HOST, hostPub, new Date(now.getTime() + 40 * 86400_000)), { error: 'the certificate has expired' });
});

test('needsRenewal: missing, another name, another CA, or within a month of its end', () => {
  const long = signed('host.key', HOST, 'pool', 365);
  assert.equal(needsRenewal(long, poolCa, HOST, now), false);
  assert.equal(needsRenewal(undefined, poolCa, HOST, now), true);
  assert.equal(needsRenewal(long, undefined, HOST, now), true);
  assert.equal(needsRenewal(long, poolCa, '6b1c8a2e-0000-4000-8000-000000000002', now), true);
  assert.equal(needsRenewal(long, otherCa, HOST, now), true);
  assert.equal(needsRenewal(signed('host.key', HOST, 'pool', 20), poolCa, HOST, now), true, 'twenty days left');
  assert.equal(needsRenewal('garbage', poolCa, HOST, now), true);
});
