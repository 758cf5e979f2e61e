// The HTTP listener: XML-RPC and JSON-RPC over TCP and/or a unix socket. No business logic: it
// reads a bounded body, decodes it, hands the call to `handle`, encodes whatever comes back.
// Every failure a client can provoke becomes a XenAPI-shaped error reply, never a 500 and never
// a crash (what the npm xen-api client and XenAPI.py expect).
//
// No client can hold the server: bodies are small and parsed in one bounded pass (limits.ts);
// connections are capped in total and per client address; each connection runs one request at a
// time; the bytes of bodies held at once are capped; every phase of a request has a deadline
// (headers, body, sending the reply). Numbers and their reasons are at the defaults below.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { ApiError } from '../common/api-error.js';
import type { Ty, Value } from '../idl/meta.js';
import { RpcParseError } from './errors.js';
import { clip, DEFAULT_LIMITS, type ParseLimits, type ParseStats } from './limits.js';
import { encodeJsonRpcParseError, encodeJsonRpcResponse, encodeJsonRpcResponseParts, parseJsonRpcCall, type JsonRpcCall } from './jsonrpc.js';
import type { LookupClass, RpcProtocol, RpcResult } from './types.js';
import { encodeXmlRpcResponse, parseXmlRpcCall } from './xmlrpc.js';

export interface RpcCall {
  method: string;
  params: Value[];
  protocol: RpcProtocol;
  /** Who sent it: the client's IP address (127.0.0.1 through the HTTPS socket), or 'unix' for the local socket. */
  source?: string;
}

/** A GET or HEAD request outside the RPC routes (on TCP only), for `pages`. */
export interface PageRequest {
  /** The URL's path, without its query string. */
  path: string;
  headers: IncomingHttpHeaders;
}

/** What `pages` answers; the listener adds the security headers every page reply carries. */
export interface PageReply {
  status: number;
  type: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

export interface ListenerOptions {
  tcp?: { host: string; port: number };
  /** Serve TCP over TLS with this key and certificate (PEM; the certificate then its chain). */
  tls?: { key: string; cert: string };
  socketPath?: string;
  /**
   * HTTPS on a unix socket as well (needs `tls`): served exactly as TCP is (TLS, password
   * logins, pages), unlike `socketPath`, whose callers are trusted. It is for a forwarder that
   * listens on 127.0.0.1 of another network namespace, so its calls count as from 127.0.0.1.
   */
  httpsSocketPath?: string;
  /** Largest accepted request body; default 300 KiB (xapi's own limit). */
  maxBodyBytes?: number;
  /** Limits on what one request may contain (depth, values, string and number length). */
  limits?: Partial<ParseLimits>;
  /** Connections open at once, all clients together; default 512. */
  maxConnections?: number;
  /** Connections open at once from one client address (the unix socket is one client); default 64. */
  maxConnectionsPerSource?: number;
  /** Request memory (body, then its text and values) any one request may hold outside the shared pool; default 16 KiB. */
  bodyAllowanceBytes?: number;
  /** Request memory beyond the allowances held at once, all requests together; default 32 MiB. */
  bodyPoolBytes?: number;
  /** Time allowed to receive the request headers; default 10 s. */
  headersTimeoutMs?: number;
  /** Time allowed to receive the whole request (not to answer it: event.from long-polls); default 30 s. */
  requestTimeoutMs?: number;
  /** Time allowed to hand a reply to the kernel (a client that stops reading); default 60 s. */
  replyTimeoutMs?: number;
  /** How often node checks the two timeouts above; default 5 s (node's own is 30 s). */
  timeoutCheckIntervalMs?: number;
  /** Idle keep-alive connections are closed after this; default 5 s. */
  keepAliveTimeoutMs?: number;
  /** On close(), how long in-flight requests may finish before their sockets are destroyed; default 1 s. */
  closeGraceMs?: number;
  handle: (call: RpcCall) => Promise<RpcResult>;
  /**
   * Answers GET and HEAD outside the RPC routes on TCP (the topology view); undefined: 404.
   * Other methods there stay 404.
   * It gets no body: a page request holds nothing beyond its headers.
   */
  pages?: (req: PageRequest) => Promise<PageReply | undefined> | PageReply | undefined;
  /**
   * HTTP handlers of their own paths (`/blob`), given the request and reply as they are: they
   * stream bodies themselves and must bound what they read. `source` as for RPC calls.
   */
  streams?: Record<string, (req: IncomingMessage, res: ServerResponse, source: string) => Promise<void>>;
  lookupClass: LookupClass;
  /** Told about handler exceptions and other unexpected failures (logging). */
  onError?: (err: unknown, context: string) => void;
}

export interface Listener {
  close(): Promise<void>;
  /** The bound TCP port (useful with port 0). */
  tcpPort?: number;
  socketPath?: string;
  /** Whether TCP is served over TLS. */
  tls: boolean;
  /** Replaces the TLS key and certificate: connections made from now on see the new ones. */
  setCertificate(tls: { key: string; cert: string }): void;
}

// Requests are small (a get_all_records reply can be megabytes, its request is a few hundred
// bytes); xapi refuses request bodies over 300 KiB (Constants.http_limit_max_rpc_size), so no
// XenAPI client sends more. At this size one body parses in a few milliseconds whatever it holds.
const DEFAULT_MAX_BODY = 300 * 1024;
// xapi allows 800 TCP connections; a network toolstack's clients (xe, XO, one agent per host)
// need far fewer. Per address: XO or a script may open a few dozen; one address cannot take all.
const DEFAULT_MAX_CONNECTIONS = 512;
const DEFAULT_MAX_PER_SOURCE = 64;
// What a request holds is charged to a budget from its first body byte until its reply is sent:
// the raw body while it is read, then an estimate of its text and decoded values. Ordinary calls
// (a few hundred bytes, a few dozen values) fit in the allowance and never wait for or fail on
// the pool; only large or dense requests share it. Held at once, at most
// 512 × 16 KiB + 32 MiB = 40 MiB (as estimated).
const DEFAULT_BODY_ALLOWANCE = 16 * 1024;
const DEFAULT_BODY_POOL = 32 * 1024 * 1024;
// The estimate: the text may be two bytes a character, and its strings are copied into the
// values; a decoded value costs at most ~64 bytes (measured: `[{},{},…]`, the densest shape).
const BYTES_PER_CHAR = 4;
const BYTES_PER_VALUE = 80;
// Error parameters from handlers are cut to this length (they may quote client input).
const ERROR_PARAM_MAX = 1024;

type Route = 'jsonrpc' | 'xmlrpc';
const ROUTES: Record<string, Route> = { '/jsonrpc': 'jsonrpc', '/': 'xmlrpc', '/xmlrpc': 'xmlrpc', '/RPC2': 'xmlrpc' };
/** The route of a request URL (query strings don't change it); undefined when there is none. */
const routeOf = (url = '/'): Route | undefined => ROUTES[url.split('?', 1)[0]!];

// Exact header values: xen-api drops to XML-RPC (or fails) on anything else, charset included.
const CT: Record<RpcProtocol, string> = { jsonrpc: 'application/json', xmlrpc: 'text/xml' };

function errorOf(e: unknown): string[] {
  if (ApiError.is(e)) return e.toDescription();
  const msg = e instanceof Error ? e.message : String(e);
  return ['INTERNAL_ERROR', msg];
}

/** Guards against handlers returning something that is not an RpcResult. */
function checkResult(r: unknown): RpcResult {
  if (typeof r === 'object' && r !== null) {
    const o = r as Record<string, unknown>;
    if (o.ok === true && 'value' in o) return { ok: true, value: o.value as Value, ty: (o.ty ?? null) as Ty | null };
    if (o.ok === false && Array.isArray(o.error)) {
      const error = (o.error as unknown[]).map((x) => String(x));
      return { ok: false, error: error.length ? error : ['INTERNAL_ERROR', 'empty error description'] };
    }
  }
  return { ok: false, error: ['INTERNAL_ERROR', 'handler returned a malformed result'] };
}

/** First string inside a value that holds U+FFFD, i.e. where an invalid UTF-8 sequence landed. */
function findReplaced(v: Value): string | undefined {
  if (typeof v === 'string') return v.includes('\uFFFD') ? v : undefined;
  if (Array.isArray(v)) { for (const x of v) { const f = findReplaced(x); if (f !== undefined) return f; } return undefined; }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) { const f = findReplaced(k) ?? findReplaced(x); if (f !== undefined) return f; }
  }
  return undefined;
}

type BodyOutcome = { kind: 'ok'; buf: Buffer } | { kind: 'too-large' } | { kind: 'busy' } | { kind: 'gone' };

/**
 * Request memory held at once. Each request holds its first `allowance` bytes freely (bounded by
 * the connection cap); bytes beyond come from one shared pool, and a request that finds the pool
 * spent is refused rather than queued, so big requests never delay small calls.
 */
class BodyBudget {
  used = 0;
  constructor(readonly allowance: number, readonly pool: number) {}

  private pooled(held: number): number {
    return Math.max(0, held - this.allowance);
  }

  /** Grows a request's holding from `held` by `more` bytes; false when the pool cannot cover it. */
  take(held: number, more: number): boolean {
    const extra = this.pooled(held + more) - this.pooled(held);
    if (this.used + extra > this.pool) return false;
    this.used += extra;
    return true;
  }

  release(held: number): void {
    this.used -= this.pooled(held);
  }
}

/** Reads the body up to `max` bytes, drawing on `budget` (`holding.bytes` says how much it holds). */
function readBody(req: IncomingMessage, max: number, budget: BodyBudget, holding: { bytes: number }): Promise<BodyOutcome> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) { resolve({ kind: 'too-large' }); return; }
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (o: BodyOutcome) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      resolve(o);
    };
    const onData = (c: Buffer) => {
      // Stop reading (never buffer) beyond the limit or the budget.
      if (holding.bytes + c.length > max) { chunks.length = 0; req.pause(); finish({ kind: 'too-large' }); return; }
      if (!budget.take(holding.bytes, c.length)) { chunks.length = 0; req.pause(); finish({ kind: 'busy' }); return; }
      holding.bytes += c.length;
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => finish({ kind: 'ok', buf: Buffer.concat(chunks, holding.bytes) }));
    req.on('error', () => finish({ kind: 'gone' }));
    req.on('close', () => finish({ kind: 'gone' }));
  });
}

// Every page reply carries these: no sniffing of types, no framing, no caching of what a session
// read, no referrer, nothing loaded by other origins; a page sets its own Content-Security-Policy
// (the default allows nothing at all).
const PAGE_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

// Media types a web page on another origin may POST without asking first (a CORS "simple
// request"): refusing them means no browser can make a call on a user's behalf.
const FORM_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Lossy = new TextDecoder('utf-8');

/** Removes a stale unix socket left by a dead server; refuses to touch anything else. */
async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try { st = lstatSync(path); } catch { return; }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to remove it`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
  if (alive) throw Object.assign(new Error(`${path}: another server is listening`), { code: 'EADDRINUSE' });
  unlinkSync(path);
}

export async function startListener(opts: ListenerOptions): Promise<Listener> {
  if (!opts.tcp && !opts.socketPath) throw new Error('startListener: need tcp and/or socketPath');
  if (opts.httpsSocketPath !== undefined && !opts.tls) throw new Error('startListener: httpsSocketPath needs tls');
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const limits: ParseLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const maxPerSource = opts.maxConnectionsPerSource ?? DEFAULT_MAX_PER_SOURCE;
  const budget = new BodyBudget(opts.bodyAllowanceBytes ?? DEFAULT_BODY_ALLOWANCE, opts.bodyPoolBytes ?? DEFAULT_BODY_POOL);
  const requestTimeout = opts.requestTimeoutMs ?? 30_000;
  const headersTimeout = Math.min(opts.headersTimeoutMs ?? 10_000, requestTimeout);
  const replyTimeout = opts.replyTimeoutMs ?? 60_000;
  const report = (e: unknown, ctx: string) => { try { opts.onError?.(e, ctx); } catch { /* a logger must not break serving */ } };

  const sockets = new Set<Socket>();
  const perSource = new Map<string, number>();
  /** Sockets with a request being read or handled: one at a time per connection. */
  const busy = new WeakSet<Socket>();
  let closing = false;

  /** `body` may come in pieces (a large cached result is sent as the Buffer it is kept in, not copied). */
  function send(res: ServerResponse, status: number, protocol: RpcProtocol | 'text', body: string | Array<string | Buffer>, extra: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const parts = typeof body === 'string' ? [body] : body;
    let length = 0;
    for (const p of parts) length += typeof p === 'string' ? Buffer.byteLength(p) : p.length;
    const headers: Record<string, string | number> = {
      'Content-Type': protocol === 'text' ? 'text/plain' : CT[protocol],
      'Content-Length': length,
      ...extra,
    };
    if (closing) headers.Connection = 'close';
    res.writeHead(status, headers);
    for (let i = 0; i < parts.length - 1; i++) res.write(parts[i]);
    res.end(parts[parts.length - 1]);
    // A client that stops reading would keep the reply (and the connection) forever.
    if (!res.writableFinished) {
      const timer = setTimeout(() => res.destroy(), replyTimeout);
      res.once('close', () => clearTimeout(timer));
    }
  }

  /** An error reply in the request's protocol. */
  function sendError(res: ServerResponse, status: number, route: Route, error: string[], extra: Record<string, string> = {}): void {
    const body = route === 'jsonrpc'
      ? encodeJsonRpcResponse({ version: '2.0', id: null }, { ok: false, error })
      : encodeXmlRpcResponse({ ok: false, error }, opts.lookupClass);
    send(res, status, route, body, extra);
  }

  /** Answers, then drops the connection: the rest of the body is never read. */
  function refuse(req: IncomingMessage, res: ServerResponse, status: number, route: Route, error: string[]): void {
    res.once('finish', () => req.socket.destroy());
    sendError(res, status, route, error, { Connection: 'close' });
  }

  const xmlError = (what: string) => encodeXmlRpcResponse({ ok: false, error: ['INTERNAL_ERROR', clip(what)] }, opts.lookupClass);

  /** The handler's answer; a body that was not valid UTF-8 is refused where it landed in a parameter. */
  async function dispatch(call: RpcCall, invalidUtf8: boolean): Promise<RpcResult> {
    const bad = invalidUtf8 ? findReplaced(call.params) : undefined;
    if (bad !== undefined) return { ok: false, error: ['INVALID_VALUE', 'Invalid UTF-8 string in parameter', clip(bad)] };
    let result: RpcResult;
    try {
      result = checkResult(await opts.handle(call));
    } catch (e) {
      if (!ApiError.is(e)) report(e, `handler for ${call.method}`);
      result = { ok: false, error: errorOf(e) };
    }
    // Error parameters may quote what the client sent: never echo a large input.
    if (!result.ok) result = { ok: false, error: result.error.map((p) => clip(p, ERROR_PARAM_MAX)) };
    return result;
  }

  /** `hold(items)` charges the decoded request to the budget; false when the pool cannot hold it. */
  type Hold = (items: number) => boolean;

  async function serveJson(res: ServerResponse, body: string, invalidUtf8: boolean, source: string, hold: Hold): Promise<void> {
    let call: JsonRpcCall;
    const stats: ParseStats = { items: 0 };
    try {
      call = parseJsonRpcCall(body, limits, stats);
    } catch (e) {
      const err = RpcParseError.is(e) ? e : new RpcParseError('jsonrpc', clip(String(e)));
      send(res, 200, 'jsonrpc', encodeJsonRpcParseError(err));
      return;
    }
    if (!hold(stats.items)) { send(res, 200, 'jsonrpc', encodeJsonRpcResponse(call, { ok: false, error: ['TOO_BUSY'] })); return; }
    const result = await dispatch({ method: call.method, params: call.params, protocol: 'jsonrpc', source }, invalidUtf8);
    let out: string | Array<string | Buffer>;
    try {
      out = encodeJsonRpcResponseParts(call, result, opts.lookupClass);
    } catch (e) {
      report(e, `encoding the reply to ${call.method}`);
      out = encodeJsonRpcResponse(call, { ok: false, error: errorOf(e) });
    }
    send(res, 200, 'jsonrpc', out);
  }

  async function serveXml(res: ServerResponse, body: string, invalidUtf8: boolean, source: string, hold: Hold): Promise<void> {
    let call: { method: string; params: Value[] };
    const stats: ParseStats = { items: 0 };
    try {
      call = parseXmlRpcCall(body, limits, stats);
    } catch (e) {
      send(res, 200, 'xmlrpc', xmlError(e instanceof Error ? e.message : String(e)));
      return;
    }
    if (!hold(stats.items)) { send(res, 200, 'xmlrpc', encodeXmlRpcResponse({ ok: false, error: ['TOO_BUSY'] }, opts.lookupClass)); return; }
    const result = await dispatch({ ...call, protocol: 'xmlrpc', source }, invalidUtf8);
    let out: string;
    try {
      out = encodeXmlRpcResponse(result, opts.lookupClass);
    } catch (e) {
      report(e, `encoding the reply to ${call.method}`);
      out = xmlError(errorOf(e)[1] ?? 'encoding failed');
    }
    send(res, 200, 'xmlrpc', out);
  }

  /** A page (GET or HEAD): the handler's reply with the page headers, or 404. */
  async function servePage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A page request has no body: one that claims one is answered and dropped, never read.
    const length = req.headers['content-length'];
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
      res.once('finish', () => req.socket.destroy());
      send(res, 400, 'text', 'a GET request has no body\n', { Connection: 'close' });
      return;
    }
    const reply = await opts.pages!({ path: (req.url ?? '/').split('?', 1)[0]!, headers: req.headers });
    if (!reply) { send(res, 404, 'text', 'not found\n', PAGE_HEADERS); return; }
    if (res.headersSent || res.destroyed) return;
    const body = typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body;
    const headers: Record<string, string | number> = { ...PAGE_HEADERS, ...reply.headers, 'Content-Type': reply.type, 'Content-Length': body.length };
    if (closing) headers.Connection = 'close';
    res.writeHead(reply.status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    if (!res.writableFinished) {
      const timer = setTimeout(() => res.destroy(), replyTimeout);
      res.once('close', () => clearTimeout(timer));
    }
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse, source: string, kind: Kind): Promise<void> {
    const route = routeOf(req.url);
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (opts.streams && Object.hasOwn(opts.streams, path)) { await opts.streams[path]!(req, res, source); return; }
    // Pages are read-only: any other method off the RPC routes is a 404, as it always was.
    if (!route && opts.pages && kind !== 'unix' && (req.method === 'GET' || req.method === 'HEAD')) { await servePage(req, res); return; }
    if (!route) { send(res, 404, 'text', 'not found\n'); return; }
    // A CORS preflight is answered, and allows nothing: no Access-Control-Allow-* header, so
    // no page on another origin may call the API with what the user's browser holds.
    if (req.method === 'OPTIONS') { send(res, 204, 'text', '', { Allow: 'POST, OPTIONS' }); return; }
    if (req.method !== 'POST') { send(res, 405, 'text', 'method not allowed\n', { Allow: 'POST, OPTIONS' }); return; }
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (FORM_TYPES.has(type)) {
      refuse(req, res, 415, route, ['INTERNAL_ERROR', `Content-Type ${type} is not accepted: send text/xml (XML-RPC) or application/json (JSON-RPC)`]);
      return;
    }

    const holding = { bytes: 0 };
    try {
      const got = await readBody(req, maxBody, budget, holding);
      if (got.kind === 'gone') return;
      if (got.kind === 'too-large') { refuse(req, res, 413, route, ['INTERNAL_ERROR', `request body exceeds ${maxBody} bytes`]); return; }
      if (got.kind === 'busy') { refuse(req, res, 200, route, ['TOO_BUSY']); return; }
      let text: string;
      let invalidUtf8 = false;
      try {
        text = utf8.decode(got.buf);
      } catch {
        text = utf8Lossy.decode(got.buf);
        invalidUtf8 = true;
      }
      // From here the request holds its text and values rather than its body: charge their estimate.
      const size = text.length * BYTES_PER_CHAR;
      const hold: Hold = (items) => {
        const estimate = size + items * BYTES_PER_VALUE;
        if (estimate <= holding.bytes) return true;
        if (!budget.take(holding.bytes, estimate - holding.bytes)) return false;
        holding.bytes = estimate;
        return true;
      };
      // Old clients post JSON to `/`; XAPI itself sniffs the same way.
      if (route === 'jsonrpc' || text.trimStart().startsWith('{')) await serveJson(res, text, invalidUtf8, source, hold);
      else await serveXml(res, text, invalidUtf8, source, hold);
    } finally {
      budget.release(holding.bytes);
    }
  }

  /** What a connection came in on: TCP, the HTTPS unix socket (as TCP, from the forwarder's 127.0.0.1), or the trusted socket. */
  type Kind = 'tcp' | 'https-unix' | 'unix';
  const sourceOf = (kind: Kind, s: Socket): string => kind === 'unix' ? 'unix' : kind === 'https-unix' ? '127.0.0.1' : s.remoteAddress ?? 'unknown';

  function makeServer(kind: Kind): Server {
    const httpOptions = {
      requestTimeout,
      headersTimeout,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5_000,
      connectionsCheckingInterval: opts.timeoutCheckIntervalMs ?? 5_000,
    };
    const onRequestEvent = (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket;
      const source = sourceOf(kind, socket);
      // One request at a time per connection: a pipelined request is refused (no XenAPI client
      // pipelines), so a connection never holds more than one body, one handler and one reply.
      if (busy.has(socket)) {
        refuse(req, res, 200, routeOf(req.url) ?? 'xmlrpc', ['TOO_BUSY']);
        return;
      }
      busy.add(socket);
      onRequest(req, res, source, kind).catch((e) => {
        // Last line of defence: something outside the codecs failed.
        report(e, 'request');
        try {
          sendError(res, 200, routeOf(req.url) ?? 'xmlrpc', ['INTERNAL_ERROR', clip(e instanceof Error ? e.message : String(e))]);
        } catch { res.destroy(); }
      }).finally(() => busy.delete(socket));
    };
    // TLS: the same server behind a handshake, which has the headers' deadline. The limits
    // below count TCP connections, handshaken or not.
    const server: Server = kind !== 'unix' && opts.tls
      ? createTlsServer({ ...httpOptions, key: opts.tls.key, cert: opts.tls.cert, handshakeTimeout: headersTimeout }, onRequestEvent)
      : createServer(httpOptions, onRequestEvent);
    server.on('connection', (s: Socket) => {
      const source = sourceOf(kind, s);
      const n = perSource.get(source) ?? 0;
      if (sockets.size >= maxConnections || n >= maxPerSource) { s.destroy(); return; }
      perSource.set(source, n + 1);
      sockets.add(s);
      s.once('close', () => {
        sockets.delete(s);
        const left = (perSource.get(source) ?? 1) - 1;
        if (left > 0) perSource.set(source, left); else perSource.delete(source);
      });
    });
    return server;
  }

  const servers: Server[] = [];
  /** The unix sockets this listener bound (close() removes them). */
  const bound: string[] = [];
  const listen = (server: Server, arg: { host: string; port: number } | string) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => { server.off('error', reject); server.on('error', (e) => report(e, 'server')); resolve(); };
    if (typeof arg !== 'string') { server.listen(arg.port, arg.host, done); return; }
    // bind() creates the socket file with the process umask: under 0177 it is born 0600, with no
    // moment in which another user could connect (bind happens within listen(), synchronously).
    const umask = process.umask(0o177);
    try { server.listen(arg, done); } finally { process.umask(umask); }
  });

  const listener: Listener = {
    tls: opts.tls !== undefined && (opts.tcp !== undefined || opts.httpsSocketPath !== undefined),
    setCertificate(tls) {
      for (const s of servers) if ('setSecureContext' in s) (s as TlsServer).setSecureContext({ key: tls.key, cert: tls.cert });
    },
    async close() {
      if (closing) return;
      closing = true;
      const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      for (const s of servers) s.closeIdleConnections();
      const grace = setTimeout(() => { for (const s of sockets) s.destroy(); }, opts.closeGraceMs ?? 1_000);
      await closed;
      clearTimeout(grace);
      // Only sockets we bound ourselves: a failed start must not unlink a live server's socket.
      for (const path of bound) {
        try { if (lstatSync(path).isSocket()) unlinkSync(path); } catch { /* already gone */ }
      }
    },
  };

  try {
    if (opts.tcp) {
      const s = makeServer('tcp');
      await listen(s, opts.tcp);
      servers.push(s);
      const addr = s.address();
      if (addr && typeof addr === 'object') listener.tcpPort = addr.port;
    }
    for (const [kind, path] of [['unix', opts.socketPath], ['https-unix', opts.httpsSocketPath]] as const) {
      if (path === undefined) continue;
      await clearStaleSocket(path);
      const s = makeServer(kind);
      await listen(s, path);
      servers.push(s);
      bound.push(path);
      // Already 0600 from the umask; kept in case a file system ignores it.
      chmodSync(path, 0o600);
    }
    if (opts.socketPath !== undefined) listener.socketPath = opts.socketPath;
  } catch (e) {
    await listener.close();
    throw e;
  }
  return listener;
}
