// Errors are data: a XenAPI error code plus its positional string parameters.
// Every failure a client can see is an ApiError; anything else is turned into
// INTERNAL_ERROR at the dispatch boundary.

const BRAND = Symbol.for('xcpnet.api-error');

export class ApiError extends Error {
  readonly [BRAND] = true;
  readonly code: string;
  readonly params: string[];

  constructor(code: string, params: readonly unknown[] = []) {
    const strings = params.map((p) => String(p));
    super(strings.length ? `${code}(${strings.join(', ')})` : code);
    this.name = 'ApiError';
    this.code = code;
    this.params = strings;
  }

  /** True for an ApiError (from any copy of this module), optionally with the given code. */
  static is(e: unknown, code?: string): e is ApiError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true &&
      (code === undefined || (e as ApiError).code === code);
  }

  /** `[code, ...params]`, the ErrorDescription / error_info form. */
  toDescription(): string[] {
    return [this.code, ...this.params];
  }
}

/** Throws `ApiError(code, params)` when `cond` is false. */
export function assertOr(cond: unknown, code: string, ...params: unknown[]): asserts cond {
  if (!cond) throw new ApiError(code, params);
}
