// The HTTP listener: XML-RPC and JSON-RPC over TCP and/or a unix socket. No business logic: it
// reads a bounded body, decodes it, hands the call to `handle`, encodes whatever comes back.
// Every failure a client can provoke becomes a XenAPI-shaped error reply (HTTP 200), never a 500
// and never a crash (reference: xenapi-clients §1, xapi-networking §5.1).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { ApiError } from '../common/api-error.js';
import type { Ty, Value } from '../idl/meta.js';
import { RpcParseError } from './errors.js';
import { encodeJsonRpcParseError, encodeJsonRpcResponse, parseJsonRpcCall, type JsonRpcCall } from './jsonrpc.js';
import type { LookupClass, RpcProtocol, RpcResult } from './types.js';
import { encodeXmlRpcResponse, parseXmlRpcCall } from './xmlrpc.js';

export interface RpcCall {
  method: string;
  params: Value[];
  protocol: RpcProtocol;
  /** The client's address (TCP only), for per-source login limits. */
  remote?: string;
}

export interface ListenerOptions {
  tcp?: { host: string; port: number };
  socketPath?: string;
  /** Largest accepted request body; default 16 MiB. */
  maxBodyBytes?: number;
  /** Time allowed to receive the request headers; default 30 s. */
  headersTimeoutMs?: number;
  /** Time allowed to receive the whole request (not to answer it: event.from long-polls); default 120 s. */
  requestTimeoutMs?: number;
  /** How often node checks the two timeouts above; default 5 s (node's own is 30 s). */
  timeoutCheckIntervalMs?: number;
  /** Idle keep-alive connections are closed after this; default 5 s. */
  keepAliveTimeoutMs?: number;
  /** On close(), how long in-flight requests may finish before their sockets are destroyed; default 1 s. */
  closeGraceMs?: number;
  handle: (call: RpcCall) => Promise<RpcResult>;
  lookupClass: LookupClass;
  /** Told about handler exceptions and other unexpected failures (logging). */
  onError?: (err: unknown, context: string) => void;
}

export interface Listener {
  close(): Promise<void>;
  /** The bound TCP port (useful with port 0). */
  tcpPort?: number;
  socketPath?: string;
}

const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

type Route = 'jsonrpc' | 'xmlrpc';
const ROUTES: Record<string, Route> = { '/jsonrpc': 'jsonrpc', '/': 'xmlrpc', '/xmlrpc': 'xmlrpc', '/RPC2': 'xmlrpc' };

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
    for (const k of Object.keys(v)) { const f = findReplaced(k) ?? findReplaced(v[k]); if (f !== undefined) return f; }
  }
  return undefined;
}

type BodyOutcome = { kind: 'ok'; buf: Buffer } | { kind: 'too-large' } | { kind: 'gone' };

/** Reads the body up to `max` bytes; stops reading (never buffers) beyond that. */
function readBody(req: IncomingMessage, max: number): Promise<BodyOutcome> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) { resolve({ kind: 'too-large' }); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (o: BodyOutcome) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      resolve(o);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) { chunks.length = 0; req.pause(); finish({ kind: 'too-large' }); return; }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => finish({ kind: 'ok', buf: Buffer.concat(chunks, size) }));
    req.on('error', () => finish({ kind: 'gone' }));
    req.on('close', () => finish({ kind: 'gone' }));
  });
}

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
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const requestTimeout = opts.requestTimeoutMs ?? 120_000;
  const headersTimeout = Math.min(opts.headersTimeoutMs ?? 30_000, requestTimeout);
  const report = (e: unknown, ctx: string) => { try { opts.onError?.(e, ctx); } catch { /* a logger must not break serving */ } };

  const sockets = new Set<Socket>();
  let closing = false;

  function send(res: ServerResponse, status: number, protocol: RpcProtocol | 'text', body: string, extra: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string | number> = {
      'Content-Type': protocol === 'text' ? 'text/plain' : CT[protocol],
      'Content-Length': Buffer.byteLength(body),
      'Access-Control-Allow-Origin': '*',
      ...extra,
    };
    if (closing) headers.Connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  const xmlError = (what: string) => encodeXmlRpcResponse({ ok: false, error: ['INTERNAL_ERROR', what] }, opts.lookupClass);

  /** The handler's answer; a body that was not valid UTF-8 is refused where it landed in a parameter. */
  async function dispatch(call: RpcCall, invalidUtf8: boolean): Promise<RpcResult> {
    const bad = invalidUtf8 ? findReplaced(call.params) : undefined;
    if (bad !== undefined) return { ok: false, error: ['INVALID_VALUE', 'Invalid UTF-8 string in parameter', bad] };
    try {
      return checkResult(await opts.handle(call));
    } catch (e) {
      if (!ApiError.is(e)) report(e, `handler for ${call.method}`);
      return { ok: false, error: errorOf(e) };
    }
  }

  async function serveJson(res: ServerResponse, body: string, invalidUtf8: boolean): Promise<void> {
    let call: JsonRpcCall;
    try {
      call = parseJsonRpcCall(body);
    } catch (e) {
      const err = RpcParseError.is(e) ? e : new RpcParseError('jsonrpc', String(e));
      send(res, 200, 'jsonrpc', encodeJsonRpcParseError(err));
      return;
    }
    const result = await dispatch({ method: call.method, params: call.params, protocol: 'jsonrpc', remote: res.req.socket.remoteAddress }, invalidUtf8);
    let out: string;
    try {
      out = encodeJsonRpcResponse(call, result, opts.lookupClass);
    } catch (e) {
      report(e, `encoding the reply to ${call.method}`);
      out = encodeJsonRpcResponse(call, { ok: false, error: errorOf(e) });
    }
    send(res, 200, 'jsonrpc', out);
  }

  async function serveXml(res: ServerResponse, body: string, invalidUtf8: boolean): Promise<void> {
    let call: { method: string; params: Value[] };
    try {
      call = parseXmlRpcCall(body);
    } catch (e) {
      send(res, 200, 'xmlrpc', xmlError(e instanceof Error ? e.message : String(e)));
      return;
    }
    const result = await dispatch({ ...call, protocol: 'xmlrpc', remote: res.req.socket.remoteAddress }, invalidUtf8);
    let out: string;
    try {
      out = encodeXmlRpcResponse(result, opts.lookupClass);
    } catch (e) {
      report(e, `encoding the reply to ${call.method}`);
      out = xmlError(errorOf(e)[1] ?? 'encoding failed');
    }
    send(res, 200, 'xmlrpc', out);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const route = ROUTES[q >= 0 ? url.slice(0, q) : url];
    if (!route) { send(res, 404, 'text', 'not found\n'); return; }
    if (req.method === 'OPTIONS') {
      send(res, 200, 'text', '', {
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': String(req.headers['access-control-request-headers'] ?? 'Content-Type, Accept'),
        'Access-Control-Max-Age': '86400',
      });
      return;
    }
    if (req.method !== 'POST') { send(res, 405, 'text', 'method not allowed\n', { Allow: 'POST, OPTIONS' }); return; }

    const got = await readBody(req, maxBody);
    if (got.kind === 'gone') return;
    if (got.kind === 'too-large') {
      const what = `request body exceeds ${maxBody} bytes`;
      const body = route === 'jsonrpc'
        ? encodeJsonRpcParseError(new RpcParseError('jsonrpc', what, { code: -32600 }))
        : xmlError(what);
      // Close the connection: the rest of the body is never read.
      res.once('finish', () => req.socket.destroy());
      send(res, 413, route, body, { Connection: 'close' });
      return;
    }
    let text: string;
    let invalidUtf8 = false;
    try {
      text = utf8.decode(got.buf);
    } catch {
      text = utf8Lossy.decode(got.buf);
      invalidUtf8 = true;
    }
    // Old clients post JSON to `/`; XAPI itself sniffs the same way.
    if (route === 'jsonrpc' || text.trimStart().startsWith('{')) await serveJson(res, text, invalidUtf8);
    else await serveXml(res, text, invalidUtf8);
  }

  function makeServer(): Server {
    const server = createServer({
      requestTimeout,
      headersTimeout,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5_000,
      connectionsCheckingInterval: opts.timeoutCheckIntervalMs ?? 5_000,
    }, (req, res) => {
      onRequest(req, res).catch((e) => {
        // Last line of defence: something outside the codecs failed.
        report(e, 'request');
        try {
          send(res, 200, 'xmlrpc', xmlError(e instanceof Error ? e.message : String(e)));
        } catch { res.destroy(); }
      });
    });
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    return server;
  }

  const servers: Server[] = [];
  const listen = (server: Server, arg: { host: string; port: number } | string) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => { server.off('error', reject); server.on('error', (e) => report(e, 'server')); resolve(); };
    if (typeof arg === 'string') server.listen(arg, done);
    else server.listen(arg.port, arg.host, done);
  });

  const listener: Listener = {
    async close() {
      if (closing) return;
      closing = true;
      const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      for (const s of servers) s.closeIdleConnections();
      const grace = setTimeout(() => { for (const s of sockets) s.destroy(); }, opts.closeGraceMs ?? 1_000);
      await closed;
      clearTimeout(grace);
      // Only a socket we bound ourselves: a failed start must not unlink a live server's socket.
      if (listener.socketPath) {
        try { if (lstatSync(listener.socketPath).isSocket()) unlinkSync(listener.socketPath); } catch { /* already gone */ }
      }
    },
  };

  try {
    if (opts.tcp) {
      const s = makeServer();
      await listen(s, opts.tcp);
      servers.push(s);
      const addr = s.address();
      if (addr && typeof addr === 'object') listener.tcpPort = addr.port;
    }
    if (opts.socketPath) {
      await clearStaleSocket(opts.socketPath);
      const s = makeServer();
      await listen(s, opts.socketPath);
      servers.push(s);
      // Only the owner may talk to the local socket (it skips nothing today, but XAPI's does).
      chmodSync(opts.socketPath, 0o600);
      listener.socketPath = opts.socketPath;
    }
  } catch (e) {
    await listener.close();
    throw e;
  }
  return listener;
}
