// A small XenAPI client: JSON-RPC 2.0 over HTTPS, HTTP or the server's unix socket.
// Used by `xe` and by the host agent. Kept free of heavy imports: `xe` start-up time is
// dominated by what this module pulls in.
import { Agent, request, type AgentOptions, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Readable } from 'node:stream';
import { request as requestTls } from 'node:https';
import { ApiError } from '../common/api-error.js';
import { TrustingAgent, UntrustedCertificate, type Trust } from './trust.js';

export interface ConnectOptions {
  /** `unix:/path/xapi.sock`, `https://host[:port]` or `http://host:port` (a bare path also means a unix socket). */
  target: string;
  /** For https: which server certificate to trust (default: one the system's CAs sign). */
  trust?: Trust;
  user: string;
  password: string;
  /** A pool member's host credential: logs in with session.slave_login instead of user/password. */
  hostCredential?: { host: string; secret: string };
  /**
   * The pool master calling a member (pool.recover_slaves): logs in with session.slave_local_login
   * and this proof (src/protocol/pool-recovery.ts) instead of user/password.
   */
  poolProof?: string;
  /** Sent as login_with_password's originator (shows up in the server's session record). */
  originator?: string;
  /** The API version string sent at login. */
  version?: string;
  /** Most sockets open at once (calls beyond wait for one); default 64. */
  maxSockets?: number;
  /** The address connections come from (a host with several; TCP targets only). */
  localAddress?: string;
  /** Aborting it gives up the login: its socket is destroyed and connect rejects. */
  signal?: AbortSignal;
}

/** Where and how to send requests: derived once from the target string. */
interface Endpoint {
  socketPath?: string;
  host?: string;
  port?: number;
  path: string;
  tls?: boolean;
  localAddress?: string;
}

export function parseTarget(target: string): Endpoint {
  if (target.startsWith('unix:')) return { socketPath: target.slice('unix:'.length), path: '/jsonrpc' };
  if (target.startsWith('/') || target.startsWith('.')) return { socketPath: target, path: '/jsonrpc' };
  const url = new URL(target.includes('://') ? target : `http://${target}`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported target protocol: ${url.protocol}`);
  const tls = url.protocol === 'https:';
  const base = url.pathname.replace(/\/$/, '');
  return {
    tls,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : tls ? 443 : 80,
    path: base === '' || base === '/' ? '/jsonrpc' : base,
  };
}

/** Methods that take no session as their first parameter. */
function isSessionless(method: string): boolean {
  return method === 'session.login_with_password' || method === 'session.slave_login' || method === 'session.slave_local_login'
    || method.startsWith('system.');
}

/** Default of ConnectOptions.maxSockets: enough for a bulk caller (and a few long polls) to keep the server busy. */
export const DEFAULT_MAX_SOCKETS = 64;

export class XapiClient {
  private agent: Agent;
  private nextId = 1;
  private sessionRef: string | undefined;

  private constructor(private readonly endpoint: Endpoint, private readonly trust: Trust = {}, private readonly maxSockets = DEFAULT_MAX_SOCKETS) {
    this.agent = this.newAgent({ keepAlive: true, maxSockets });
  }

  /** Sockets for this endpoint; over TLS every one checks the server's certificate first. */
  private newAgent(opts: AgentOptions): Agent {
    return this.endpoint.tls ? new TrustingAgent(this.trust, opts) : new Agent(opts);
  }

  /** Opens a client and logs in; a failed login rejects with the server's ApiError. */
  static async connect(opts: ConnectOptions): Promise<XapiClient> {
    const endpoint = parseTarget(opts.target);
    if (opts.localAddress !== undefined && endpoint.socketPath === undefined) endpoint.localAddress = opts.localAddress;
    const client = new XapiClient(endpoint, opts.trust, opts.maxSockets);
    const giveUp = (): void => client.agent.destroy();
    opts.signal?.throwIfAborted();
    opts.signal?.addEventListener('abort', giveUp, { once: true });
    try {
      const hc = opts.hostCredential;
      client.sessionRef = hc
        ? await client.call<string>('session.slave_login', hc.host, hc.secret)
        : opts.poolProof !== undefined ? await client.call<string>('session.slave_local_login', opts.poolProof)
        : await client.call<string>('session.login_with_password', opts.user, opts.password, opts.version ?? '2.23', opts.originator ?? '');
    } catch (e) {
      client.agent.destroy();
      throw e;
    } finally {
      opts.signal?.removeEventListener('abort', giveUp);
    }
    return client;
  }

  get session(): string | undefined {
    return this.sessionRef;
  }

  /** Calls `method`; the session ref is prepended for every method that takes one. */
  call<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    const args = isSessionless(method) ? params : [this.sessionRef ?? '', ...params];
    return this.send(method, args) as Promise<T>;
  }

  /**
   * Drops every kept connection (calls in flight on them fail): after the caller's own addresses
   * or routes changed, a kept connection may be dead without knowing it and would hang its calls.
   */
  resetConnections(): void {
    const old = this.agent;
    this.agent = this.newAgent({ keepAlive: true, maxSockets: this.maxSockets });
    old.destroy();
  }

  /**
   * Releases the sockets at once without logging out (calls in flight fail): for a server that
   * moved away, where a logout would wait for a connection that cannot come.
   */
  abandon(): void {
    this.sessionRef = undefined;
    this.agent.destroy();
  }

  /** Logs out (best effort) and releases sockets. */
  async close(): Promise<void> {
    try {
      if (this.sessionRef !== undefined) await this.call('session.logout');
    } catch {
      // The session may already be gone; closing must not fail because of it.
    } finally {
      this.sessionRef = undefined;
      this.agent.destroy();
    }
  }

  /**
   * An HTTP request beside the RPC, as xapi's HTTP handlers take them (`/blob`): the session
   * goes in the query; a body is streamed with its length. Resolves with the reply, unread.
   */
  transfer(method: 'GET' | 'PUT', path: string, query: Record<string, string>, body?: { stream: Readable; length: number }): Promise<IncomingMessage> {
    const ep = this.endpoint;
    const q = new URLSearchParams({ ...query, session_id: this.sessionRef ?? '' });
    const opts: RequestOptions = {
      method, path: `${path}?${q.toString()}`, agent: this.newAgent({ keepAlive: false }),
      headers: body ? { 'content-length': body.length, 'content-type': 'application/octet-stream' } : {},
    };
    if (ep.socketPath !== undefined) Object.assign(opts, { socketPath: ep.socketPath, servername: 'localhost' });
    else { opts.host = ep.host; opts.port = ep.port; }
    return new Promise((resolve, reject) => {
      const req = (ep.tls ? requestTls : request)(opts, resolve);
      req.on('error', (e) => reject(e instanceof UntrustedCertificate ? e : new Error(`cannot reach the XenAPI server (${describe(ep)}): ${e.message}`)));
      if (body) { body.stream.on('error', (e) => req.destroy(e)); body.stream.pipe(req); } else req.end();
    });
  }

  private send(method: string, params: unknown[]): Promise<unknown> {
    const id = this.nextId++;
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', method, params, id }));
    const ep = this.endpoint;
    const opts: RequestOptions = {
      method: 'POST',
      path: ep.path,
      agent: this.agent,
      headers: { 'content-type': 'application/json', 'content-length': body.length, accept: 'application/json' },
    };
    // A preset servername spares the agent its IP check: compiling Node's IPv6 regex costs
    // ~10 ms on the first call, a visible share of a short-lived xe's run time.
    if (ep.socketPath !== undefined) Object.assign(opts, { socketPath: ep.socketPath, servername: 'localhost' });
    else { opts.host = ep.host; opts.port = ep.port; if (ep.localAddress !== undefined) opts.localAddress = ep.localAddress; }
    return this.post(opts, body, method, false);
  }

  private post(opts: RequestOptions, body: Buffer, method: string, again: boolean): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = (this.endpoint.tls ? requestTls : request)(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300) {
            reject(new Error(`${method}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
            return;
          }
          try {
            resolve(decodeReply(method, text));
          } catch (e) {
            reject(e);
          }
        });
      });
      // Bytes the socket had read before this request: more at an error means a reply had begun.
      let readBefore = -1;
      req.once('socket', (s) => { readBefore = s.bytesRead; });
      req.on('error', (e) => {
        // A kept-alive socket the server has just closed as idle (its keep-alive timeout) fails
        // the next request sent on it, before a byte of reply: that request never reached the
        // server, so it is sent once more, on a socket of its own (the pool's other idle sockets
        // may have been closed at the same moment). Nothing else is retried.
        const code = (e as NodeJS.ErrnoException).code;
        const replied = readBefore < 0 || (req.socket?.bytesRead ?? 0) > readBefore;
        if (!again && req.reusedSocket && !replied && (code === 'ECONNRESET' || code === 'EPIPE')) {
          this.post({ ...opts, agent: this.newAgent({ keepAlive: false }) }, body, method, true).then(resolve, reject);
          return;
        }
        reject(e instanceof UntrustedCertificate ? e : new Error(`cannot reach the XenAPI server (${describe(this.endpoint)}): ${e.message}`));
      });
      req.end(body);
    });
  }
}

function describe(ep: Endpoint): string {
  return ep.socketPath !== undefined ? `unix:${ep.socketPath}` : `${ep.tls ? 'https' : 'http'}://${ep.host}:${ep.port}`;
}

/** Decodes a JSON-RPC reply; XenAPI errors (2.0 object form or 1.0/array form) become ApiError. */
export function decodeReply(method: string, text: string): unknown {
  let msg: { result?: unknown; error?: unknown };
  try {
    msg = JSON.parse(text) as typeof msg;
  } catch {
    throw new Error(`${method}: the server sent a reply that is not JSON`);
  }
  const err = msg.error;
  if (err !== undefined && err !== null) {
    if (Array.isArray(err)) throw new ApiError(String(err[0] ?? 'INTERNAL_ERROR'), err.slice(1));
    if (typeof err === 'object') {
      const o = err as { code?: unknown; message?: unknown; data?: unknown };
      // Protocol-level JSON-RPC errors (parse error, invalid request) are not XenAPI errors.
      if (typeof o.code === 'number' && o.code < 0) throw new Error(`${method}: JSON-RPC error ${o.code}: ${String(o.message)}`);
      const data = Array.isArray(o.data) ? o.data : o.data === undefined || o.data === null ? [] : [o.data];
      throw new ApiError(String(o.message ?? 'INTERNAL_ERROR'), data);
    }
    throw new ApiError(String(err));
  }
  if (!('result' in msg)) throw new Error(`${method}: the server sent a reply without a result`);
  return msg.result;
}
