// Error output, as the real xe prints it. Everything goes to stderr with exit status 1; never a stack trace.
import { ApiError } from '../common/api-error.js';
import { ArgError, CliFailure, UsageError } from './args.js';
import type { Caller } from './fields.js';

export const USAGE_HINT = "For usage run: 'xe help'";

export interface ErrorDoc {
  params: string[];
  doc: string;
}

/** Classes an error parameter may point into, tried in this order when resolving a ref. */
const REF_CLASSES = ['network', 'PIF', 'VIF', 'VM', 'host', 'VLAN', 'Bond', 'tunnel', 'pool', 'PIF_metrics', 'task'];
/** Classes whose objects are shown as `uuid (name-label)`. */
const NAMED = new Set(['network', 'VM', 'host', 'pool']);

/** Turns `OpaqueRef:…` into `<uuid>` or `<uuid> (<name-label>)`; anything else is kept. */
export async function describeRef(c: Caller | undefined, value: string): Promise<string> {
  if (c === undefined || !value.startsWith('OpaqueRef:') || value === 'OpaqueRef:NULL') return value;
  for (const cls of REF_CLASSES) {
    try {
      const uuid = await c.call<string>(`${cls}.get_uuid`, value);
      if (!NAMED.has(cls)) return uuid;
      const name = await c.call<string>(`${cls}.get_name_label`, value);
      return name === '' ? uuid : `${uuid} (${name})`;
    } catch {
      // not of this class: try the next
    }
  }
  return value;
}

/**
 * The lines for an API error: the registry's description, then `name: value` per parameter
 * (`<extra>` for surplus values, `<unknown>` for missing ones); unknown codes get the raw form.
 */
export function formatApiError(code: string, values: string[], doc: ErrorDoc | undefined): string[] {
  if (doc === undefined) return [`Error code: ${code}`, `Error parameters: ${values.join(', ')}`];
  const lines = [doc.doc];
  const n = Math.max(doc.params.length, values.length);
  for (let i = 0; i < n; i++) lines.push(`${doc.params[i] ?? '<extra>'}: ${values[i] ?? '<unknown>'}`);
  return lines;
}

async function errorDoc(code: string): Promise<ErrorDoc | undefined> {
  const { ERRORS } = await import('../idl/errors.js');
  return Object.prototype.hasOwnProperty.call(ERRORS, code) ? ERRORS[code] : undefined;
}

/** The stderr lines for any failure; `c` (when connected) resolves refs to uuids. */
export async function errorLines(e: unknown, c?: Caller): Promise<string[]> {
  if (e instanceof UsageError) return e.lines;
  if (e instanceof ArgError) return [`Error: ${e.message}`];
  if (e instanceof CliFailure) {
    return formatApiError('INTERNAL_ERROR', [`Failure: ${e.message}`], await errorDoc('INTERNAL_ERROR'));
  }
  if (ApiError.is(e)) {
    if (e.code === 'SESSION_AUTHENTICATION_FAILED') return ['Authentication failed', USAGE_HINT];
    const values = await Promise.all(e.params.map((p) => describeRef(c, p)));
    return formatApiError(e.code, values, await errorDoc(e.code));
  }
  const msg = e instanceof Error ? e.message : String(e);
  return [`Error: ${msg}`];
}
