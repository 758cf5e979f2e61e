// Reconnect/backoff state machine. Pure: every input carries the current time (ms), so
// it is tested without timers and the session decides how to sleep.
//
// Policy (close to OVS's own reconnect.c): the first attempt is immediate; each failed
// attempt, or a connection that dropped before it was stable, doubles the delay from
// minBackoffMs up to maxBackoffMs; a connection that stayed up for stableMs resets the
// backoff, so the first reconnect after a long healthy session is immediate again.

export type ReconnectState = 'idle' | 'backoff' | 'connecting' | 'connected' | 'stopped';

export interface ReconnectOptions {
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A connection up for at least this long counts as healthy and resets the backoff. */
  stableMs?: number;
}

export class ReconnectFsm {
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly stableMs: number;
  private _state: ReconnectState = 'idle';
  private backoffMs = 0; // delay applied before the next attempt; 0 = immediate
  private nextAttemptAt = 0;
  private connectedAt = 0;
  private _attempts = 0; // consecutive failed attempts since the last stable connection

  constructor(opts: ReconnectOptions = {}) {
    this.minBackoffMs = opts.minBackoffMs ?? 100;
    this.maxBackoffMs = opts.maxBackoffMs ?? 8000;
    this.stableMs = opts.stableMs ?? 10_000;
    if (this.minBackoffMs <= 0 || this.maxBackoffMs < this.minBackoffMs) {
      throw new RangeError('reconnect: need 0 < minBackoffMs <= maxBackoffMs');
    }
  }

  get state(): ReconnectState {
    return this._state;
  }

  get failures(): number {
    return this._attempts;
  }

  /** Starts (or restarts after stop) connecting: the first attempt is due now. */
  enable(now: number): void {
    this._state = 'backoff';
    this.backoffMs = 0;
    this._attempts = 0;
    this.nextAttemptAt = now;
  }

  /** Milliseconds until the next attempt should start; undefined when none is due (connecting, connected, stopped). */
  timeToAttempt(now: number): number | undefined {
    if (this._state !== 'backoff') return undefined;
    return Math.max(0, this.nextAttemptAt - now);
  }

  /** The session begins a connection attempt. */
  connecting(_now: number): void {
    if (this._state === 'stopped') throw new Error('reconnect: stopped');
    this._state = 'connecting';
  }

  /** The attempt succeeded. */
  connected(now: number): void {
    if (this._state === 'stopped') return;
    this._state = 'connected';
    this.connectedAt = now;
  }

  /** The attempt failed, or an established connection was lost. Returns the delay before the next attempt. */
  disconnected(now: number): number {
    if (this._state === 'stopped') return Infinity;
    const wasStable = this._state === 'connected' && now - this.connectedAt >= this.stableMs;
    if (wasStable) {
      this._attempts = 0;
      this.backoffMs = 0;
    } else {
      this._attempts++;
      this.backoffMs = this.backoffMs === 0
        ? this.minBackoffMs
        : Math.min(this.maxBackoffMs, this.backoffMs * 2);
    }
    this._state = 'backoff';
    this.nextAttemptAt = now + this.backoffMs;
    return this.backoffMs;
  }

  /** No more attempts (the client was closed). */
  stop(): void {
    this._state = 'stopped';
  }
}
