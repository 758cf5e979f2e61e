// Lazy look-ups into the IDL for dedicated commands (enum spellings of message parameters).
// The IDL is imported on first use only, to keep `xe` start-up light.

/** The API values of an enum parameter of `cls.message`, e.g. PIF.reconfigure_ip's `mode`. */
export async function enumParam(cls: string, message: string, param: string): Promise<readonly string[]> {
  const { findClass } = await import('../idl/index.js');
  const p = findClass(cls)?.messages.find((m) => m.name === message)?.params.find((x) => x.name === param);
  if (p?.ty.kind !== 'enum') throw new Error(`IDL: ${cls}.${message}(${param}) is not an enum parameter`);
  return p.ty.values;
}
