// The member's side of pool recovery, pure: which proofs and addresses it takes, how long and how
// many recovery sessions it keeps, and what a new master address changes in its membership.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../common/api-error.js';
import { isMasterAddress, recoveryKeyOf, recoveryProof } from '../protocol/pool-recovery.js';
import { assertPinsMaster, followMasterAt, RECOVERY_SESSION_MS, RECOVERY_SESSIONS_MAX, RecoverySessions } from './member-recovery.js';
import type { MemberConfig } from '../protocol/pool-member.js';

const cfg: MemberConfig = {
  master: 'https://192.0.2.11:8443', masterAddress: '192.0.2.11', host: 'OpaqueRef:h', hostUuid: 'u', secret: 's3cret',
  trust: { fingerprint: 'AB' },
};
const proof = recoveryProof(recoveryKeyOf(cfg.secret), cfg.host);
const code = (f: () => unknown): string => { try { f(); return 'none'; } catch (e) { return (e as ApiError).code; } };

test('a proof logs in only for its own secret and host; sessions end after their time, and the oldest go past the bound', () => {
  let now = 0;
  const s = new RecoverySessions(() => now);
  assert.equal(code(() => s.login(recoveryProof(recoveryKeyOf('other'), cfg.host), cfg)), 'SESSION_AUTHENTICATION_FAILED');
  assert.equal(code(() => s.login(recoveryProof(recoveryKeyOf(cfg.secret), 'OpaqueRef:other'), cfg)), 'SESSION_AUTHENTICATION_FAILED');
  for (const bad of [undefined, 42, '', proof.toUpperCase(), `${proof}0`]) assert.equal(code(() => s.login(bad, cfg)), 'SESSION_AUTHENTICATION_FAILED');
  const first = s.login(proof, cfg);
  assert.equal(code(() => s.check(first)), 'none');
  assert.equal(code(() => s.check('OpaqueRef:made-up')), 'SESSION_INVALID');
  const more = Array.from({ length: RECOVERY_SESSIONS_MAX }, () => s.login(proof, cfg));
  assert.equal(s.has(first), false, 'the oldest went past the bound');
  assert.ok(more.every((r) => s.has(r)));
  s.logout(more[0]);
  assert.equal(s.has(more[0]), false);
  now += RECOVERY_SESSION_MS;
  assert.ok(more.every((r) => !s.has(r)), 'ended after their time');
});

test('a new master address keeps the membership and its port; anything but IPv4 or a DNS name is INVALID_VALUE', () => {
  assert.deepEqual(followMasterAt(cfg, '192.0.2.31'), { ...cfg, master: 'https://192.0.2.31:8443', masterAddress: '192.0.2.31' });
  assert.deepEqual(followMasterAt(cfg, 'master.example'), { ...cfg, master: 'https://master.example:8443', masterAddress: 'master.example' });
  for (const bad of ['', '192.0.2.300', '1.2.3', 'a b', 'x/y', 'https://10.0.0.1', '10.0.0.1:443', '-a.example', 'x'.repeat(254), 7, null]) {
    assert.equal(isMasterAddress(bad), false, String(bad));
    assert.equal(code(() => followMasterAt(cfg, bad)), 'INVALID_VALUE', String(bad));
  }
});

test('a reset from the network is taken only by a member that pins its master by fingerprint, over https', () => {
  assert.equal(code(() => assertPinsMaster(cfg, { fingerprint: 'AB' })), 'none');
  assert.equal(code(() => assertPinsMaster(cfg, { ca: 'PEM' })), 'OPERATION_NOT_ALLOWED');
  assert.equal(code(() => assertPinsMaster(cfg, {})), 'OPERATION_NOT_ALLOWED', 'the system CAs');
  assert.equal(code(() => assertPinsMaster({ master: 'http://192.0.2.11:8080' }, { fingerprint: 'AB' })), 'OPERATION_NOT_ALLOWED', 'no TLS, nothing pinned');
});
