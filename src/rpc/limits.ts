// Hard limits on one request. Both codecs check them while they read, so hostile input fails
// after at most one linear pass over a bounded body, never after building a huge tree.

export interface ParseLimits {
  /** Arrays/structs nested inside one parameter (the parameter itself counts as 1). */
  maxDepth: number;
  /** Values in one request, struct member names included (a member counts 2). */
  maxItems: number;
  /** Characters in one string or member name, as written on the wire. */
  maxString: number;
  /** Characters in one number (<int>, <i4>, <i8>, <double>, a JSON number). */
  maxNumber: number;
  /** Characters in a method name. */
  maxMethod: number;
}

export const DEFAULT_LIMITS: Readonly<ParseLimits> = Object.freeze({
  // XenAPI values nest a few levels (a map inside a record inside a parameter); 32 is far beyond
  // any real call and keeps every recursive walk of a value short.
  maxDepth: 32,
  // A real request carries at most a few thousand values (an agent's report on a busy host).
  // This bounds the time to build the values (JSON.parse of an object with 10,000 keys takes
  // a few milliseconds; the cost grows with the key count) and the work of a handler walking them.
  maxItems: 20_000,
  // Certificates and descriptions are a few KiB; a longer string is not a XenAPI parameter.
  maxString: 64 * 1024,
  // An int64 has at most 20 characters, a %.17g double 24: thousands of digits are not a number
  // (and turning them into a BigInt takes quadratic time).
  maxNumber: 32,
  // The longest XenAPI method name is under 64 characters.
  maxMethod: 256,
});

/** Filled in by a parser: how many values (member names included) the request held. */
export interface ParseStats {
  items: number;
}

/** Echoed client input in an error message is cut to this many characters. */
export const ECHO_MAX = 256;

/** `s` cut to `max` characters, marked when cut: error replies never echo a large input. */
export function clip(s: string, max = ECHO_MAX): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(${s.length} characters)`;
}

/** JSON.stringify of clipped text, for quoting client input in messages. */
export function quote(s: string): string {
  return JSON.stringify(clip(s));
}
