// Time as the master's timers see it (the realisation hub's waits, the tunnel controller's retry):
// injectable, so a test can move time by hand instead of waiting on the wall clock.

export interface Clock {
  now(): number;
  /** Runs `fn` after `ms`; the returned function cancels it. A pending timer keeps no process alive. */
  after(ms: number, fn: () => void): () => void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** A clock that moves only when told: advance() runs the timers that fall due, in time order. */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 1_000_000) { this.t = start; }

  now(): number { return this.t; }

  after(ms: number, fn: () => void): () => void {
    const id = this.seq++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return () => { this.timers.delete(id); };
  }

  /** How many timers are waiting. */
  get pending(): number { return this.timers.size; }

  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}
