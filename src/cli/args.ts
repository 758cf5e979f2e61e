// Command-line classification, as the real xe's: connection flags, the command, `name=value` parameters
// and `--switch` flags. Pure: no I/O.

export class UsageError extends Error {
  /** Printed lines (stderr), exit status 1. */
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
    this.name = 'UsageError';
  }
}

/** An argument-parsing failure, printed as `Error: <text>`. */
export class ArgError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgError';
  }
}

/** A failure raised inside the CLI itself; printed in the INTERNAL_ERROR form, as the real xe prints it. */
export class CliFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliFailure';
  }
}

export interface Connection {
  server?: string;
  port?: string;
  user?: string;
  password?: string;
  passwordFile?: string;
  /** --nossl: plain HTTP to -s (as the real xe's flag). */
  nossl?: boolean;
  /** xcpnet's: the CA or server certificate file an https server is checked against. */
  caFile?: string;
  /** xcpnet's: the server certificate's pinned SHA-256 fingerprint. */
  fingerprint?: string;
}

export interface Argv {
  conn: Connection;
  command?: string;
  /** Parameters in command-line order; a later duplicate replaces the earlier value. */
  params: Map<string, string>;
  /** Bare words after the command (only `help` uses them). */
  words: string[];
}

/** Flags that take the next token as their value. */
export const VALUE_FLAGS: Record<string, Exclude<keyof Connection, 'nossl'>> = {
  '-s': 'server',
  '-h': 'server',
  '-p': 'port',
  '-u': 'user',
  '-pw': 'password',
  '-pwf': 'passwordFile',
  '--ca-file': 'caFile',
  '--fingerprint': 'fingerprint',
};

export function parseArgv(tokens: readonly string[]): Argv {
  const out: Argv = { conn: {}, params: new Map(), words: [] };
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    const flag = VALUE_FLAGS[tok];
    if (flag !== undefined) {
      const v = tokens[i + 1];
      if (v === undefined) throw new ArgError(`Missing value after ${tok}`);
      out.conn[flag] = v;
      i++;
    } else if (tok === '--nossl') {
      out.conn.nossl = true;
    } else if (tok.startsWith('--')) {
      out.params.set(tok.slice(2), 'true');
    } else if (tok.includes('=')) {
      const at = tok.indexOf('=');
      setParam(out.params, tok.slice(0, at), tok.slice(at + 1));
    } else if (out.command === undefined) {
      out.command = tok;
    } else {
      out.words.push(tok);
    }
  }
  return out;
}

function setParam(params: Map<string, string>, k: string, v: string): void {
  params.delete(k); // keep the order of the last occurrence
  params.set(k, v);
}

/** Parameters that are switches or list controls, never fields or filters. */
export const CONTROL_PARAMS = new Set(['minimal', 'all', 'multiple', 'force', 'params', 'help']);

const TRUE = new Set(['true', 't', 'yes', 'y', '1', 'on']);
const FALSE = new Set(['false', 'f', 'no', 'n', '0', 'off']);

export function parseBool(name: string, v: string): boolean {
  const s = v.toLowerCase();
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  throw new ArgError(`Failed to parse parameter '${name}': expecting a boolean (true or false)`);
}

export function parseIntParam(name: string, v: string): number {
  if (!/^[+-]?\d+$/.test(v.trim())) throw new ArgError(`Failed to parse parameter '${name}': expecting an integer`);
  return Number(v.trim());
}

export function parseFloatParam(name: string, v: string): number {
  const n = Number(v.trim());
  if (v.trim() === '' || !Number.isFinite(n)) throw new ArgError(`Failed to parse parameter '${name}': expecting a float`);
  return n;
}

/** Case-insensitive enum match; the error lists the API spellings. */
export function parseEnum(values: readonly string[], v: string): string {
  const hit = values.find((x) => x.toLowerCase() === v.toLowerCase());
  if (hit === undefined) throw new ArgError(`Expected one of ${values.map((x) => `'${x}'`).join(', ')}, got ${v}`);
  return hit;
}

/** Looks a parameter up ignoring case (some xe keys, such as `IP` and `DNS`, are matched that way). */
export function getCaseless(params: Map<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of params) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** `map:key=value` parameters of one map, e.g. `properties:lacp-time=fast`. */
export function mapParams(params: Map<string, string>, map: string): Record<string, string> {
  const out: Record<string, string> = {};
  const prefix = `${map}:`;
  for (const [k, v] of params) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

/** `a,b\,c` → ['a', 'b,c']: splits a --minimal-style list, honouring the escapes. */
export function splitList(v: string): string[] {
  if (v === '') return [];
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && i + 1 < v.length) cur += v[++i];
    else if (c === ',') { out.push(cur); cur = ''; } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}
