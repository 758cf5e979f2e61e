// Shorthands for the security tests: a server driven in-process through `handle` (the one path
// every wire takes), with a controllable clock, and calls that throw ApiError like a client.
import { ApiError } from '../../src/common/api-error.js';
import type { Value } from '../../src/idl/meta.js';
import { XapiServer, type ServerOptions } from '../../src/server/server.js';

/** A clock the test moves by hand (ms since the epoch). */
export class TestClock {
  constructor(public ms = Date.UTC(2024, 0, 1)) {}
  readonly now = () => this.ms;
  advance(ms: number): void { this.ms += ms; }
}

/** An in-memory server; `extra` carries the injectable options (clock, hasher, sleep). */
export function newServer(extra: Record<string, unknown> = {}): XapiServer {
  return new XapiServer({ dbPath: ':memory:', ...extra } as ServerOptions);
}

/** Runs one call as the wire would; `remote` is the client's address as the listener saw it. */
export async function raw(server: XapiServer, method: string, params: unknown[], remote?: string): Promise<Value> {
  const call = { method, params: params as Value[], remote };
  const r = await server.handle(call);
  if (!r.ok) throw new ApiError(r.error[0]!, r.error.slice(1));
  return r.value;
}

export const login = (server: XapiServer, user: string, password: string, opts: { originator?: string; remote?: string } = {}) =>
  raw(server, 'session.login_with_password', [user, password, '1.0', opts.originator ?? ''], opts.remote) as Promise<string>;

export const call = <T = any>(server: XapiServer, session: string, method: string, ...params: unknown[]) =>
  raw(server, method, [session, ...params]) as Promise<T>;
