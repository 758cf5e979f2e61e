// A pool member's side of pool.recover_slaves: what its serve answers on its TLS listener to the
// master that proves itself (src/protocol/pool-recovery.ts), besides HOST_IS_SLAVE to everything
// else: session.slave_local_login (the proof), host.is_in_emergency_mode and
// pool.emergency_reset_master with the session it got, session.(local_)logout. The sessions live
// in memory, a few at once and briefly: the master uses one for two calls.
import { randomUUID } from 'node:crypto';
import { ApiError } from '../common/api-error.js';
import { isMasterAddress, isRecoveryProof } from '../protocol/pool-recovery.js';
import type { MasterTrust, MemberConfig } from '../protocol/pool-member.js';

/** A recovery session ends this long after its login. */
export const RECOVERY_SESSION_MS = 60_000;
/** Most recovery sessions at once: the oldest goes first. */
export const RECOVERY_SESSIONS_MAX = 8;

export class RecoverySessions {
  /** ref → when it ends (ms). */
  private readonly sessions = new Map<string, number>();
  constructor(private readonly now: () => number = Date.now) {}

  /** session.slave_local_login: a session for a valid proof, else SESSION_AUTHENTICATION_FAILED. */
  login(proof: unknown, cfg: Pick<MemberConfig, 'secret' | 'host'>): string {
    if (!isRecoveryProof(proof, cfg.secret, cfg.host)) throw new ApiError('SESSION_AUTHENTICATION_FAILED', ['', 'not the pool master\'s proof for this host']);
    this.prune();
    while (this.sessions.size >= RECOVERY_SESSIONS_MAX) this.sessions.delete(this.sessions.keys().next().value!);
    const ref = `OpaqueRef:${randomUUID()}`;
    this.sessions.set(ref, this.now() + RECOVERY_SESSION_MS);
    return ref;
  }

  /** Whether `ref` is a live recovery session. */
  has(ref: unknown): boolean {
    this.prune();
    return typeof ref === 'string' && this.sessions.has(ref);
  }

  /** SESSION_INVALID unless `ref` is a live recovery session. */
  check(ref: unknown): void {
    if (!this.has(ref)) throw new ApiError('SESSION_INVALID', [typeof ref === 'string' ? ref.slice(0, 100) : '']);
  }

  logout(ref: unknown): void { if (typeof ref === 'string') this.sessions.delete(ref); }

  private prune(): void {
    const t = this.now();
    for (const [ref, end] of this.sessions) if (end <= t) this.sessions.delete(ref);
  }
}

/**
 * Pure: the membership after pool.emergency_reset_master(address): the same master (its pinned
 * certificate, this host's ref and secret) at another address, on the same scheme and port.
 */
export function followMasterAt(cfg: MemberConfig, address: unknown): MemberConfig {
  if (!isMasterAddress(address)) throw new ApiError('INVALID_VALUE', ['master_address', String(address).slice(0, 100)]);
  const url = new URL(cfg.master);
  url.hostname = address;
  return { ...cfg, master: url.origin, masterAddress: address };
}

/**
 * Pure: refuses pool.emergency_reset_master from the network (a recovery proof over TLS) unless
 * this member pins its master's certificate by fingerprint. Trusted through CAs, it would follow a
 * forged reset to any server with a certificate those CAs sign for the new address and log in
 * there with its credential. Its own socket's reset (the operator on the member) stays allowed.
 */
export function assertPinsMaster(cfg: Pick<MemberConfig, 'master'>, trust: MasterTrust): void {
  if (cfg.master.startsWith('https:') && trust.fingerprint) return;
  throw new ApiError('OPERATION_NOT_ALLOWED', ['this member does not pin its master\'s certificate by fingerprint, so it takes a new master address only on its own socket (xe pool-emergency-reset-master there)']);
}
