// Typed OVSDB errors. Server-side failures keep the server's tag (`error`) and `details`
// verbatim and get a stable `kind` the agent can switch on; client-side failures
// (disconnects, timeouts, protocol breakage) get kinds of their own.

export type OvsdbErrorKind =
  // from the server (transact results, JSON-RPC error replies)
  | 'constraint-violation'
  | 'referential-integrity'
  | 'duplicate-uuid-name'
  | 'timed-out'            // a `wait` op whose condition did not hold in time
  | 'domain-error'
  | 'range-error'
  | 'not-owner'
  | 'aborted'
  | 'not-supported'
  | 'resources-exhausted'
  | 'io-error'
  | 'syntax-error'
  | 'unknown-column'
  | 'unknown-table'
  | 'unknown-database'
  | 'unknown-method'
  | 'ovsdb-error'
  | 'permission-error'
  | 'try-again'
  | 'canceled'
  | 'server-error'         // any other tag from the server
  // from this client
  | 'disconnected'         // the connection was lost (or never made) while the call was pending
  | 'closed'               // the client was closed
  | 'request-timeout'      // no reply within the call's timeout
  | 'cur-cfg-timeout'      // ovs-vswitchd did not reach the wanted cur_cfg in time
  | 'protocol';            // the peer broke RFC 7047 (bad framing, malformed reply)

const TAG_KINDS: Record<string, OvsdbErrorKind> = {
  'constraint violation': 'constraint-violation',
  'referential integrity violation': 'referential-integrity',
  'duplicate uuid-name': 'duplicate-uuid-name',
  'timed out': 'timed-out',
  'domain error': 'domain-error',
  'range error': 'range-error',
  'not owner': 'not-owner',
  'aborted': 'aborted',
  'not supported': 'not-supported',
  'resources exhausted': 'resources-exhausted',
  'I/O error': 'io-error',
  'syntax error': 'syntax-error',
  'unknown column': 'unknown-column',
  'unknown table': 'unknown-table',
  'unknown database': 'unknown-database',
  'unknown method': 'unknown-method',
  'ovsdb error': 'ovsdb-error',
  'permission error': 'permission-error',
  'try again': 'try-again',
  'canceled': 'canceled',
};

export function kindOfTag(tag: string): OvsdbErrorKind {
  return TAG_KINDS[tag] ?? 'server-error';
}

export interface OvsdbErrorInit {
  /** The server's error tag, verbatim (e.g. "constraint violation"), when the server sent one. */
  tag?: string;
  details?: string;
  /** Index of the failing operation in the transact; ops.length means the commit itself failed. */
  opIndex?: number;
  /** The failing operation's name ("insert"…), or "commit". */
  op?: string;
  method?: string;
  db?: string;
  cause?: unknown;
}

export class OvsdbError extends Error {
  readonly kind: OvsdbErrorKind;
  readonly tag?: string;
  readonly details?: string;
  readonly opIndex?: number;
  readonly op?: string;
  readonly method?: string;
  readonly db?: string;

  constructor(kind: OvsdbErrorKind, message: string, init: OvsdbErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'OvsdbError';
    this.kind = kind;
    this.tag = init.tag;
    this.details = init.details;
    this.opIndex = init.opIndex;
    this.op = init.op;
    this.method = init.method;
    this.db = init.db;
  }

  /** True if the failure is transient and the same request may succeed when retried. */
  get retryable(): boolean {
    return this.kind === 'timed-out' || this.kind === 'try-again' || this.kind === 'disconnected';
  }

  static is(e: unknown, kind?: OvsdbErrorKind): e is OvsdbError {
    return e instanceof OvsdbError && (kind === undefined || e.kind === kind);
  }

  /** Builds the error for a server `{error, details}` object. */
  static fromServer(err: unknown, init: OvsdbErrorInit = {}): OvsdbError {
    let tag = 'unknown';
    let details: string | undefined;
    if (typeof err === 'string') tag = err;
    else if (err && typeof err === 'object') {
      const o = err as { error?: unknown; details?: unknown };
      if (typeof o.error === 'string') tag = o.error;
      if (o.details !== undefined) details = typeof o.details === 'string' ? o.details : JSON.stringify(o.details);
    }
    const where = init.opIndex !== undefined ? ` (op ${init.opIndex}${init.op ? ` ${init.op}` : ''})` : '';
    const what = init.method ? `${init.method}: ` : '';
    return new OvsdbError(kindOfTag(tag), `${what}${tag}${where}${details ? `: ${details}` : ''}`,
      { ...init, tag, details });
  }
}
