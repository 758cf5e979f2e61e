// A request body that cannot be understood as a call at all. Deliberately not an ApiError:
// the dispatcher never sees it; the listener turns it into a XenAPI-shaped error reply in the
// protocol the client spoke (INTERNAL_ERROR for XML-RPC, a JSON-RPC error object for JSON).

/** JSON-RPC 2.0 standard codes: -32700 parse error, -32600 invalid request. */
export type RpcParseCode = -32700 | -32600;

export class RpcParseError extends Error {
  readonly protocol: 'xmlrpc' | 'jsonrpc';
  readonly code: RpcParseCode;
  /** What is known of the envelope when the failure came after JSON parsing (to echo id/version). */
  readonly version?: '1.0' | '2.0';
  readonly id?: string | number | null;

  constructor(protocol: 'xmlrpc' | 'jsonrpc', message: string, extra: {
    code?: RpcParseCode; version?: '1.0' | '2.0'; id?: string | number | null;
  } = {}) {
    super(message);
    this.name = 'RpcParseError';
    this.protocol = protocol;
    this.code = extra.code ?? -32700;
    this.version = extra.version;
    this.id = extra.id;
  }

  static is(e: unknown): e is RpcParseError {
    return e instanceof RpcParseError;
  }
}
