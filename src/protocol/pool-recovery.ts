// pool.recover_slaves: the master calls each member (over TLS, checking the member's certificate
// against the fingerprint it sent at its join) and proves that it is the pool's master before it
// may tell the member its new address. xapi proves it with the pool secret that every host
// shares (session.slave_local_login); xcpnet has no shared secret: each member has its own, and
// the master keeps only its SHA-256 (src/server/host-credentials.ts). The proof is an HMAC keyed
// with that SHA-256, over what the proof is for and the member's host ref: the master can make it
// from what it keeps, the member can check it from its own secret, and nobody else can make it.
// See docs/security.md. Pure, no I/O.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isDnsName, isIPv4 } from '../common/net-syntax.js';

/** What the HMAC says it is for: a proof for another use of the same key cannot be replayed here. */
const PURPOSE = 'xcpnet pool recovery v1';

/** The key of a member's proofs: the SHA-256 of its secret (what the master keeps). */
export const recoveryKeyOf = (secret: string): Buffer => createHash('sha256').update(secret).digest();

/** The proof the master sends a member (session.slave_local_login's psecret), hex. */
export function recoveryProof(key: Buffer, hostRef: string): string {
  return createHmac('sha256', key).update(`${PURPOSE}\n${hostRef}`).digest('hex');
}

/** The member's check of a proof against its own secret and host ref (constant time). */
export function isRecoveryProof(proof: unknown, secret: string, hostRef: string): boolean {
  if (typeof proof !== 'string' || !/^[0-9a-f]{64}$/.test(proof)) return false;
  return timingSafeEqual(Buffer.from(proof, 'hex'), Buffer.from(recoveryProof(recoveryKeyOf(secret), hostRef), 'hex'));
}

/**
 * A master address a member accepts: an IPv4 address, or a DNS name (xapi's master_address is a
 * hostname) that does not look like a broken IPv4 address (digits and dots only).
 */
export const isMasterAddress = (s: unknown): s is string =>
  typeof s === 'string' && (isIPv4(s) || (isDnsName(s) && !/^[\d.]+$/.test(s)));
