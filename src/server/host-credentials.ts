// Per-host credentials: at pool.join the master gives each member a random secret, with which
// the member's agent logs in (session.slave_login). Only a SHA-256 of a secret is kept: the
// secret is 32 random bytes, so a slow hash would add nothing. pool.rotate_secret makes a next
// secret per host, which the member collects with its current one (host.fetch_secret); both are
// accepted until the member first logs in with the next, which then replaces the current.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../db/store.js';

interface Row { host: string; hash: string; next_hash: string | null; next: string | null }

const digest = (secret: string): Buffer => createHash('sha256').update(secret).digest();
const newSecret = (): string => randomBytes(32).toString('base64url');

export class HostCredentials {
  constructor(private readonly store: Store) {
    store.sqlite.exec('CREATE TABLE IF NOT EXISTS host_secrets (host TEXT PRIMARY KEY, hash TEXT NOT NULL, next_hash TEXT, next TEXT)');
  }

  private row(host: string): Row | undefined {
    return this.store.sqlite.prepare('SELECT * FROM host_secrets WHERE host = ?').get(host) as Row | undefined;
  }

  /** A new secret for the host (replacing any it had); returned once, kept only as a hash. */
  issue(host: string): string {
    const secret = newSecret();
    this.store.sqlite.prepare('INSERT OR REPLACE INTO host_secrets (host, hash, next_hash, next) VALUES (?, ?, NULL, NULL)')
      .run(host, digest(secret).toString('hex'));
    return secret;
  }

  /** True when `secret` is the host's current or next secret; the next one becomes current. */
  check(host: string, secret: string): boolean {
    const row = this.row(host);
    const got = digest(secret);
    const same = (hex: string | null): boolean => hex !== null && timingSafeEqual(Buffer.from(hex, 'hex'), got);
    if (!row) return false;
    if (same(row.next_hash)) {
      this.store.sqlite.prepare('UPDATE host_secrets SET hash = next_hash, next_hash = NULL, next = NULL WHERE host = ?').run(host);
      return true;
    }
    return same(row.hash);
  }

  /** Gives every host with a credential a next secret (a later rotation replaces an uncollected one). */
  rotate(): void {
    const hosts = this.store.sqlite.prepare('SELECT host FROM host_secrets').all() as Array<{ host: string }>;
    const set = this.store.sqlite.prepare('UPDATE host_secrets SET next_hash = ?, next = ? WHERE host = ?');
    for (const { host } of hosts) {
      const s = newSecret();
      set.run(digest(s).toString('hex'), s, host);
    }
  }

  /** The host's next secret while it is not yet in use, else ''. */
  pending(host: string): string { return this.row(host)?.next ?? ''; }

  /**
   * The keys of the host's pool-recovery proofs (src/protocol/pool-recovery.ts): the SHA-256 of its
   * current secret, then of its next one while that is not yet in use (the member may have
   * collected it already). None when the host has no credential.
   */
  recoveryKeys(host: string): Buffer[] {
    const row = this.row(host);
    return row ? [row.hash, row.next_hash].filter((h): h is string => h !== null).map((h) => Buffer.from(h, 'hex')) : [];
  }

  has(host: string): boolean { return this.row(host) !== undefined; }

  forget(host: string): void { this.store.sqlite.prepare('DELETE FROM host_secrets WHERE host = ?').run(host); }
}
