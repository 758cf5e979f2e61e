// Is Open vSwitch there to realise anything? Two daemons, two signals, both events rather than
// polls:
// - ovsdb-server: the OVSDB session's own state (its connection drops when the server dies; the
//   session reconnects with backoff and re-issues its monitors).
// - ovs-vswitchd: a connection held open to its control socket (the one `ovs-appctl` uses).
//   The kernel closes it the instant the process dies, whatever the signal, and a new daemon is
//   reached again through the socket its pidfile names. The database alone cannot tell: a
//   killed ovs-vswitchd leaves every row as it was, and one that comes back may write nothing.
// Every transition to "up" is a possible restart, after which the agent re-checks everything:
// the userspace datapath, OpenFlow rules and internal ports' kernel devices die with
// ovs-vswitchd, while the rows stay.
import { existsSync, readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { ReconnectFsm, type ReconnectOptions } from '../ovsdb/reconnect.js';

export interface SwitchHealth {
  readonly up: boolean;
  /** Why it is down ('' when up). */
  readonly reason: string;
  /** Hears each change of `up`. Returns an unsubscribe function. */
  onChange(cb: (up: boolean) => void): () => void;
  /** Resolves once the first look at each daemon is done (up or not). */
  readonly settled: Promise<void>;
  close(): void;
}

/**
 * ovs-vswitchd's control socket in its run directory: `ovs-vswitchd.ctl` when the daemon was
 * started with that --unixctl (the lab's instances), else `ovs-vswitchd.<pid>.ctl` for the pid
 * in its pidfile (the default of a packaged Open vSwitch).
 */
export function vswitchdCtl(rundir: string): string | undefined {
  const fixed = join(rundir, 'ovs-vswitchd.ctl');
  if (existsSync(fixed)) return fixed;
  try {
    const pid = Number(readFileSync(join(rundir, 'ovs-vswitchd.pid'), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0) return join(rundir, `ovs-vswitchd.${pid}.ctl`);
  } catch { /* no pidfile: not running, or not started yet */ }
  return undefined;
}

/** What the watcher needs of the OVSDB session. */
export interface DbSessionState {
  readonly connected: boolean;
  onState(fn: (up: boolean) => void): () => void;
}

export interface WatchOvsOptions {
  db: DbSessionState;
  /** Where ovs-vswitchd's control socket is now (looked up again before each attempt). */
  ctlPath: () => string | undefined;
  /** Retry delays for the control socket (default 100 ms doubling to 2 s). */
  backoff?: ReconnectOptions;
  now?: () => number;
}

export function watchOvs(o: WatchOvsOptions): SwitchHealth {
  const now = o.now ?? Date.now;
  const fsm = new ReconnectFsm({ minBackoffMs: 100, maxBackoffMs: 2000, stableMs: 10_000, ...o.backoff });
  const listeners = new Set<(up: boolean) => void>();
  let dbUp = o.db.connected;
  let vsUp = false;
  let closed = false;
  let sock: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let settle!: () => void;
  const settled = new Promise<void>((r) => { settle = r; });

  const reasonNow = (): string => !dbUp ? 'ovsdb-server is not reachable' : !vsUp ? 'ovs-vswitchd is not running' : '';
  let wasUp = reasonNow() === '';
  const update = (): void => {
    const up = reasonNow() === '';
    if (up === wasUp || closed) return;
    wasUp = up;
    for (const fn of listeners) { try { fn(up); } catch { /* a listener's bug is its own */ } }
  };

  const attempt = (): void => {
    if (closed) return;
    fsm.connecting(now());
    const path = o.ctlPath();
    if (!path) { retry(); return; }
    const s = createConnection({ path });
    sock = s;
    let connected = false;
    s.on('connect', () => { connected = true; fsm.connected(now()); vsUp = true; update(); settle(); });
    s.on('error', () => { /* 'close' follows */ });
    s.on('close', () => {
      if (sock === s) sock = undefined;
      if (connected) { vsUp = false; update(); }
      retry();
    });
  };
  const retry = (): void => {
    settle();
    if (closed) return;
    const delay = fsm.disconnected(now());
    timer = setTimeout(attempt, delay);
    timer.unref?.();
  };

  const offDb = o.db.onState((up) => { dbUp = up; update(); });
  fsm.enable(now());
  attempt();

  return {
    get up() { return reasonNow() === ''; },
    get reason() { return reasonNow(); },
    settled,
    onChange(cb) { listeners.add(cb); return () => { listeners.delete(cb); }; },
    close() {
      closed = true;
      fsm.stop();
      clearTimeout(timer);
      offDb();
      sock?.destroy();
      settle();
    },
  };
}
