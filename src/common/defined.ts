/** The value, known to be there: a lookup that must succeed (an index the caller just built, a test's
 *  own fixture). Absent means a bug, reported with what was looked for rather than carried on as undefined. */
export function defined<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`missing: ${what}`);
  return v;
}
