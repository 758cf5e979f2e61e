// An in-process XenAPI client: the same calls, the same checks, no socket. The master's own
// agent uses it, so it stays "a client like any other" without a network hop.

import { ApiError } from '../common/api-error.js';
import type { Value } from '../idl/meta.js';
import type { XapiServer } from './server.js';

export class LoopbackClient {
  private constructor(private readonly server: XapiServer, private readonly session: string) {}

  static open(server: XapiServer, originator: string): LoopbackClient {
    return new LoopbackClient(server, server.sessions.open('root', 'pool-admin', originator));
  }

  async call<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    const withSession = method.startsWith('system.') || method === 'session.login_with_password' ? params : [this.session, ...params];
    // A JSON round trip keeps the caller from sharing objects with the store.
    const r = await this.server.handle({ method, params: JSON.parse(JSON.stringify(withSession)) as Value[] });
    if (!r.ok) throw new ApiError(r.error[0]!, r.error.slice(1));
    return JSON.parse(JSON.stringify(r.value)) as T;
  }

  async close(): Promise<void> { this.server.sessions.logout(this.session); }
}
