// The agent's line to the master. It logs in when it has no session, and again after the master
// has forgotten it: sessions live in the master's memory, so a restarted master answers every
// call of the old session with SESSION_INVALID. The link never waits or retries by itself; the
// agent's loop decides when to call again (with a bounded backoff), and resynchronises its
// records from scratch after a new login (see index.ts).

/** A logged-in session: what XapiClient.connect resolves with. */
export interface MasterSession {
  call(method: string, ...params: unknown[]): Promise<unknown>;
  close(): Promise<void>;
  /** Drops kept connections (the session stays). */
  resetConnections?(): void;
}

export const codeOf = (e: unknown): string | undefined => {
  const c = (e as { code?: unknown } | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
};

export class MasterLink {
  /** Logins that succeeded (the first one included). */
  logins = 0;
  private current?: Promise<MasterSession>;
  private closed = false;

  /** @param login opens a new session (one attempt; rejects when the master cannot be reached or refuses). */
  constructor(private readonly login: () => Promise<MasterSession>) {}

  /**
   * Calls `method` on the current session, logging in first when there is none. Concurrent
   * callers share one login. A SESSION_INVALID reply drops the session (the next call logs in
   * again) and is rethrown, so the caller knows its event token died with the session.
   */
  async call(method: string, ...params: unknown[]): Promise<unknown> {
    if (this.closed) throw new Error('the link to the master is closed');
    const pending = this.current ??= this.login().then((s) => { this.logins++; return s; });
    let session: MasterSession;
    try {
      session = await pending;
    } catch (e) {
      if (this.current === pending) this.current = undefined;
      throw e;
    }
    try {
      return await session.call(method, ...params);
    } catch (e) {
      if (codeOf(e) === 'SESSION_INVALID' && this.current === pending) {
        this.current = undefined;
        // The master no longer knows it: only the sockets are left to release.
        void session.close().catch(() => undefined);
      }
      throw e;
    }
  }

  /** Drops the session's kept connections: after the host's management configuration changed. */
  resetConnections(): void {
    void this.current?.then((s) => s.resetConnections?.(), () => undefined);
  }

  /**
   * Ends the current session (a call in flight on it fails): the next call logs in afresh, with
   * whatever the login function gives then (the master changed: src/agent/membership.ts).
   */
  drop(): void {
    const pending = this.current;
    this.current = undefined;
    void pending?.then((s) => s.close(), () => undefined).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.current;
    this.current = undefined;
    if (pending) await pending.then((s) => s.close(), () => undefined).catch(() => undefined);
  }
}
