// JSON-RPC 1.0 session with an OVSDB server over `unix:/path`, `tcp:host:port` or
// `ssl:host:port` (TLS, both ends showing a certificate of one CA, as OVS's stream-ssl does).
//
// Owns the socket and everything that is about the connection rather than the database:
// request ids and the pending map, answering the server's `echo` probes, probing the
// server in turn, dispatching notifications, reconnecting with backoff, failing pending
// calls when the connection goes, and running the owner's hooks after a reconnect (the
// client re-issues its monitors there, since monitors die with the connection).

import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { JsonFramer, FramingError } from './framer.js';
import { ReconnectFsm, type ReconnectOptions } from './reconnect.js';
import { OvsdbError } from './errors.js';

export type Target = { kind: 'unix'; path: string } | { kind: 'tcp' | 'ssl'; host: string; port: number };

/** Parses `unix:/path`, `tcp:host:port`, `ssl:host:port` or either with `[v6addr]`. */
export function parseTarget(target: string): Target {
  if (target.startsWith('unix:')) {
    const path = target.slice(5);
    if (!path) throw new TypeError(`bad OVSDB target ${JSON.stringify(target)}`);
    return { kind: 'unix', path };
  }
  const m = /^(tcp|ssl):(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(target);
  if (m) {
    const port = Number(m[4]);
    if (port > 0 && port < 65536) return { kind: m[1] as 'tcp' | 'ssl', host: (m[2] ?? m[3])!, port };
  }
  throw new TypeError(`bad OVSDB target ${JSON.stringify(target)} (want unix:/path, tcp:host:port or ssl:host:port)`);
}

export interface SessionOptions {
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean;
  backoff?: ReconnectOptions;
  /** Send our own `echo` after this long without hearing from the server, and drop the
   *  connection after twice this long (default 5000; 0 disables probing). */
  probeIntervalMs?: number;
  /** Default per-request timeout (default 0 = none; a `wait` op may legitimately block). */
  requestTimeoutMs?: number;
  /** How long the first connection may keep being retried (default 0: one attempt). */
  connectTimeoutMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
  /**
   * For `ssl:` targets: this end's key and certificate and the CA the server's must be signed
   * by (PEM files, read at each connect, so a renewed certificate is used from the next one).
   * The server's certificate names no address: it must be of that CA and its CN one of
   * `serverNames` (the same CA signs clients' certificates, which must not pass for a server).
   */
  tls?: { key: string; cert: string; ca: string; serverNames: readonly string[] };
}

/** Pure: why a server certificate whose subject's CN is `cn` is refused (undefined: one of `names`). */
export function serverNameError(cn: string | string[] | undefined, names: readonly string[]): Error | undefined {
  if (typeof cn === 'string' && names.includes(cn)) return undefined;
  return new Error(`the OVSDB server's certificate names ${JSON.stringify(cn ?? '')}, not one of ${names.join(', ')}`);
}

export type NotificationListener = (method: string, params: unknown[]) => void;

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

export interface SessionStats {
  /** Connections established, the first one included. */
  connects: number;
  /** `echo` requests from the server that we answered. */
  echoesAnswered: number;
  /** `echo` probes we sent. */
  probesSent: number;
}

/**
 * Parses a comma-separated list of targets (the members of a clustered database): the session
 * connects to one at a time and moves on to the next when a connection fails or is lost.
 */
export function parseTargets(targets: string): Target[] {
  return targets.split(',').map(parseTarget);
}

export class Session {
  readonly targets: Target[];
  /** Which of `targets` the current (or next) connection goes to. */
  private current = 0;
  readonly stats: SessionStats = { connects: 0, echoesAnswered: 0, probesSent: 0 };
  private readonly opts: Required<Omit<SessionOptions, 'backoff' | 'tls'>>;
  private readonly tls: SessionOptions['tls'];
  private readonly fsm: ReconnectFsm;
  private socket?: Socket;
  private connectedSocket?: Socket;
  private framer = new JsonFramer();
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private notificationListeners = new Set<NotificationListener>();
  private connectHooks = new Set<() => Promise<void> | void>();
  private stateListeners = new Set<(up: boolean, err?: Error) => void>();
  private retryTimer?: NodeJS.Timeout;
  private probeTimer?: NodeJS.Timeout;
  private lastRx = 0;
  private closed = false;

  private constructor(targets: Target[], opts: SessionOptions) {
    this.targets = targets;
    this.opts = {
      reconnect: opts.reconnect ?? true,
      probeIntervalMs: opts.probeIntervalMs ?? 5000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 0,
      connectTimeoutMs: opts.connectTimeoutMs ?? 0,
      now: opts.now ?? Date.now,
    };
    this.fsm = new ReconnectFsm(opts.backoff);
    this.tls = opts.tls;
    if (targets.some((t) => t.kind === 'ssl') && !opts.tls) throw new TypeError('an ssl: OVSDB target needs a key, a certificate and a CA');
  }

  /** Connects; resolves once the first connection is up. */
  static async open(target: string, opts: SessionOptions = {}): Promise<Session> {
    const s = new Session(parseTargets(target), opts);
    await s.firstConnect();
    return s;
  }

  /** The target of the current (or next) connection. */
  get target(): Target {
    return this.targets[this.current]!;
  }

  get connected(): boolean {
    return this.connectedSocket !== undefined;
  }

  /** Subscribes to notifications (`update`, `update2`, `update3`, `locked`…). Returns an unsubscribe function. */
  onNotification(fn: NotificationListener): () => void {
    this.notificationListeners.add(fn);
    return () => this.notificationListeners.delete(fn);
  }

  /** Runs `fn` after every re-established connection (not the first), before 'up' listeners hear of it. */
  onReconnect(fn: () => Promise<void> | void): () => void {
    this.connectHooks.add(fn);
    return () => this.connectHooks.delete(fn);
  }

  /** Hears of connection state changes: up=true after (re)connect and hooks, false on loss. */
  onState(fn: (up: boolean, err?: Error) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  /** Resolves when connected (immediately if already), rejects after timeoutMs or on close. */
  waitConnected(timeoutMs: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(new OvsdbError('closed', 'OVSDB session closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new OvsdbError('disconnected', `not connected to ${this.describe()} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onState((up) => {
        if (up || this.closed) {
          clearTimeout(timer);
          off();
          if (up) resolve();
          else reject(new OvsdbError('closed', 'OVSDB session closed'));
        }
      });
    });
  }

  /** Sends a request; resolves with `result`, rejects with OvsdbError. */
  request(method: string, params: unknown[], opts: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.closed) return Promise.reject(new OvsdbError('closed', 'OVSDB session closed', { method }));
    const sock = this.connectedSocket;
    if (!sock) {
      return Promise.reject(new OvsdbError('disconnected', `${method}: not connected to ${this.describe()}`, { method }));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const p: Pending = { method, resolve, reject };
      const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs;
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new OvsdbError('request-timeout', `${method}: no reply within ${timeoutMs} ms`, { method }));
        }, timeoutMs);
      }
      this.pending.set(id, p);
      this.send(sock, { method, params, id });
    });
  }

  /** Sends a notification (no reply expected). */
  notify(method: string, params: unknown[]): void {
    if (this.connectedSocket) this.send(this.connectedSocket, { method, params, id: null });
  }

  /** Drops the current connection as if the network had failed (the session reconnects). */
  dropConnection(): void {
    this.socket?.destroy();
  }

  /** Closes for good: fails pending calls with 'closed' and stops reconnecting. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fsm.stop();
    clearTimeout(this.retryTimer);
    this.stopProbe();
    const sock = this.socket;
    this.socket = undefined;
    this.connectedSocket = undefined;
    this.failPending(new OvsdbError('closed', 'OVSDB session closed'));
    sock?.destroy();
    for (const fn of this.stateListeners) fn(false);
  }

  describe(t: Target = this.target): string {
    return t.kind === 'unix' ? `unix:${t.path}` : `${t.kind}:${t.host}:${t.port}`;
  }

  describeAll(): string {
    return this.targets.map((t) => this.describe(t)).join(',');
  }

  // --- connection management -------------------------------------------------------

  private firstConnect(): Promise<void> {
    const deadline = this.opts.now() + this.opts.connectTimeoutMs;
    this.fsm.enable(this.opts.now());
    return new Promise((resolve, reject) => {
      const tryOnce = () => {
        this.attempt((err) => {
          if (!err) return resolve();
          const delay = this.fsm.disconnected(this.opts.now());
          // Every target gets one attempt, whatever the deadline.
          if (this.closed || (this.opts.now() + delay > deadline && this.fsm.failures >= this.targets.length)) {
            this.close();
            reject(new OvsdbError('disconnected', `cannot connect to ${this.targets.length > 1 ? 'any of ' : ''}${this.describeAll()}: ${err.message}`, { cause: err }));
            return;
          }
          this.retryTimer = setTimeout(tryOnce, delay);
        });
      };
      tryOnce();
    });
  }

  /** One connection attempt; `done` is told whether the connect itself worked. */
  private attempt(done?: (err?: Error) => void): void {
    this.fsm.connecting(this.opts.now());
    const name = this.describe();
    const t = this.target;
    let sock: Socket;
    try {
      sock = t.kind === 'unix' ? createConnection({ path: t.path })
        : t.kind === 'tcp' ? createConnection({ host: t.host, port: t.port })
          : tlsConnect({
            host: t.host, port: t.port, key: readFileSync(this.tls!.key), cert: readFileSync(this.tls!.cert), ca: readFileSync(this.tls!.ca),
            checkServerIdentity: (_host, cert) => serverNameError(cert.subject?.CN, this.tls!.serverNames),
          });
    } catch (e) {
      // The key or certificate files cannot be read: a failed attempt like any other.
      const err = e as Error;
      if (done) setImmediate(() => done(err));
      else this.scheduleRetry();
      return;
    }
    this.socket = sock;
    let up = false;
    let lastErr: Error | undefined;
    sock.on(t.kind === 'ssl' ? 'secureConnect' : 'connect', () => {
      up = true;
      sock.setNoDelay?.(true);
      this.framer = new JsonFramer();
      this.connectedSocket = sock;
      this.lastRx = this.opts.now();
      this.fsm.connected(this.opts.now());
      this.stats.connects++;
      this.startProbe();
      const reconnected = this.stats.connects > 1;
      if (done) done();
      void this.afterConnect(sock, reconnected);
    });
    sock.on('data', (chunk: Buffer) => this.onData(sock, chunk));
    sock.on('error', (e) => { lastErr = e; });
    sock.on('close', () => {
      if (this.socket === sock) this.socket = undefined;
      // The next attempt goes to the next member, if there are several.
      this.current = (this.current + 1) % this.targets.length;
      if (!up) {
        // Only the first connect reports failures to its caller; later ones just retry.
        if (done) done(lastErr ?? new Error('connection closed'));
        else this.scheduleRetry();
        return;
      }
      if (this.connectedSocket === sock) this.connectedSocket = undefined;
      this.stopProbe();
      const err = new OvsdbError('disconnected', `connection to ${name} lost${lastErr ? `: ${lastErr.message}` : ''}`,
        { cause: lastErr });
      this.failPending(err);
      if (this.closed) return;
      for (const fn of this.stateListeners) fn(false, err);
      this.scheduleRetry();
    });
  }

  private async afterConnect(sock: Socket, reconnected: boolean): Promise<void> {
    if (reconnected) {
      for (const hook of this.connectHooks) {
        try {
          await hook();
        } catch (e) {
          // A hook failing (say, the monitor could not be re-issued because the server
          // went away again) is handled by the next reconnect; a hook failing on a healthy
          // connection leaves stale state, so start over.
          if (this.connectedSocket === sock) sock.destroy(e as Error);
          return;
        }
      }
    }
    if (this.connectedSocket === sock) for (const fn of this.stateListeners) fn(true);
  }

  private scheduleRetry(): void {
    if (this.closed || !this.opts.reconnect) {
      if (!this.closed) this.close();
      return;
    }
    const delay = this.fsm.disconnected(this.opts.now());
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.closed) this.attempt();
    }, delay);
  }

  private failPending(err: OvsdbError): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(new OvsdbError(err.kind, `${p.method}: ${err.message}`, { method: p.method, cause: err.cause }));
    }
  }

  // --- keep-alive --------------------------------------------------------------------

  private startProbe(): void {
    this.stopProbe();
    const every = this.opts.probeIntervalMs;
    if (every <= 0) return;
    // Tick at half the interval so a probe goes out between 1x and 1.5x of idleness.
    this.probeTimer = setInterval(() => {
      const sock = this.connectedSocket;
      if (!sock) return;
      const idle = this.opts.now() - this.lastRx;
      if (idle >= 2 * every) {
        sock.destroy(new Error(`no reply from server for ${idle} ms`));
      } else if (idle >= every) {
        this.stats.probesSent++;
        this.request('echo', []).catch(() => { /* the probe's fate is judged by lastRx */ });
      }
    }, Math.max(1, Math.floor(every / 2)));
  }

  private stopProbe(): void {
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }

  // --- wire --------------------------------------------------------------------------

  private send(sock: Socket, msg: unknown): void {
    sock.write(JSON.stringify(msg));
  }

  private onData(sock: Socket, chunk: Buffer): void {
    if (sock !== this.connectedSocket) return;
    this.lastRx = this.opts.now();
    let msgs: unknown[];
    try {
      msgs = this.framer.push(chunk);
    } catch (e) {
      sock.destroy(e instanceof FramingError ? e : new Error(String(e)));
      return;
    }
    for (const m of msgs) this.onMessage(sock, m);
  }

  private onMessage(sock: Socket, msg: unknown): void {
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return;
    const m = msg as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (typeof m.method === 'string') {
      const params = Array.isArray(m.params) ? m.params : [];
      if (m.id !== undefined && m.id !== null) {
        // A request from the server: only `echo` is defined (the inactivity probe).
        if (m.method === 'echo') {
          this.stats.echoesAnswered++;
          this.send(sock, { id: m.id, result: params, error: null });
        } else {
          this.send(sock, { id: m.id, result: null, error: 'unknown method' });
        }
        return;
      }
      for (const fn of this.notificationListeners) {
        try {
          fn(m.method, params);
        } catch {
          // a listener's bug must not kill the session
        }
      }
      return;
    }
    if (typeof m.id !== 'number') return;
    const p = this.pending.get(m.id);
    if (!p) return; // timed out already
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error !== null && m.error !== undefined) p.reject(OvsdbError.fromServer(m.error, { method: p.method }));
    else p.resolve(m.result);
  }
}
