// Failed-login limits. Two records, both bounded in size and forgotten after a quiet spell:
//  - per source address (IPv6 by /64): after five failures the address must wait before its
//    next attempt (1 s, doubling to 30 s); attempts inside the wait are refused without a
//    password check. Other addresses are not affected, so the owner is never locked out by
//    someone else's guessing; a success from the address clears its record.
//  - per user name (known or not, so the limit reveals nothing): after five failures every
//    further wrong password is answered only after the same growing delay, while a right
//    password is answered at once. This slows a client guessing one account in sequence
//    without ever refusing the owner.
// Attempts are counted as failures when they start (and forgiven on success), so a burst of
// concurrent guesses from one address cannot outrun its limit.

export const LOGIN_LIMITS = {
  /** Failures allowed before any wait or delay. */
  freeFailures: 5,
  /** Wait after the sixth failure; it doubles with each further failure… */
  firstWaitMs: 1000,
  /** …up to this. */
  maxWaitMs: 30_000,
  /** A record with no failure for this long is forgotten. */
  forgetAfterMs: 15 * 60_000,
  /** Most sources (and most user names) tracked at once; the stalest go first. */
  maxTracked: 10_000,
};

interface Entry { failures: number; last: number }

/** The wait that follows `failures` failures. */
function penalty(failures: number): number {
  const { freeFailures, firstWaitMs, maxWaitMs } = LOGIN_LIMITS;
  if (failures < freeFailures) return 0;
  return Math.min(maxWaitMs, firstWaitMs * 2 ** Math.min(failures - freeFailures, 30));
}

/** Failure counts by key, least recently failed first. */
class FailureRecord {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly now: () => number) {}

  get size(): number { return this.entries.size; }

  get(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.now() - e.last >= LOGIN_LIMITS.forgetAfterMs) { this.entries.delete(key); return undefined; }
    return e;
  }

  /** Counts one failure; returns the new count. */
  fail(key: string): number {
    const failures = (this.get(key)?.failures ?? 0) + 1;
    this.entries.delete(key);
    while (this.entries.size >= LOGIN_LIMITS.maxTracked) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { failures, last: this.now() });
    return failures;
  }

  clear(key: string): void { this.entries.delete(key); }
}

/** The part of an address that one client controls: an IPv4 address, or an IPv6 /64. */
export function sourceKey(address: string): string {
  const addr = address.replace(/%.*$/, '').toLowerCase();
  const v4 = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})$/.exec(addr);
  if (v4) return v4[1]!;
  if (!addr.includes(':')) return addr;
  const [head = '', tail] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export class LoginLimits {
  private readonly bySource: FailureRecord;
  private readonly byUser: FailureRecord;

  constructor(private readonly now: () => number) {
    this.bySource = new FailureRecord(now);
    this.byUser = new FailureRecord(now);
  }

  /**
   * False when the source must still wait; otherwise the attempt is counted against the source
   * until `succeeded` forgives it. No source (in-process calls, the root-only unix socket): true.
   */
  admit(source: string | undefined): boolean {
    if (source === undefined) return true;
    const key = sourceKey(source);
    const e = this.bySource.get(key);
    if (e && this.now() - e.last < penalty(e.failures)) return false;
    this.bySource.fail(key);
    return true;
  }

  succeeded(source: string | undefined): void {
    if (source !== undefined) this.bySource.clear(sourceKey(source));
  }

  /** Counts a wrong password for `user`; returns how long to hold the answer back (ms). */
  failed(user: string): number {
    return penalty(this.byUser.fail(user.slice(0, 256)) - 1);
  }

  sizes(): { bySource: number; byUser: number } {
    return { bySource: this.bySource.size, byUser: this.byUser.size };
  }
}
