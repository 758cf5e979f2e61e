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
  /**
   * What the real xe would refuse before running anything: `usage` (--help, no command, a bad
   * port: the usage text on stderr, exit status 0), or `syntax` (a switch xe does not know or
   * without its value, a first argument that is a name=value: "Syntax error: ", status 1).
   */
  problem?: { kind: 'usage'; message?: string } | { kind: 'syntax' };
}

/** Flags that take the next token as their value. */
export const VALUE_FLAGS: Record<string, Exclude<keyof Connection, 'nossl'> | 'ignored'> = {
  '-s': 'server',
  '-h': 'server',
  '-p': 'port',
  '-u': 'user',
  '-pw': 'password',
  '-pwf': 'passwordFile',
  '--ca-file': 'caFile',
  '--fingerprint': 'fingerprint',
  // The real xe's tracing context: accepted, and not used.
  '--traceparent': 'ignored',
};

/** Flags of the real xe that take no value; xcpnet's xe has no debug output, so only --nossl acts. */
const SWITCHES = new Set(['--nossl', '--debug', '--debug-on-fail']);

/** `name=value` arguments the real xe takes as connection settings rather than parameters. */
const KEYWORDS: Record<string, keyof Connection | 'ignored'> = {
  server: 'server', port: 'port', username: 'user', password: 'password', passwordfile: 'passwordFile',
  nossl: 'nossl', debug: 'ignored', debugonfail: 'ignored', traceparent: 'ignored',
};

/**
 * The real xe's reading of XE_EXTRA_ARGS (ocaml/xe-cli/newcli.ml): arguments separated by commas,
 * a comma escaped by a backslash staying in its argument; backslashes are then dropped.
 */
export function splitExtraArgs(text: string): string[] {
  const out: string[] = [];
  let pos = 0;
  let i = 0;
  while (pos < text.length) {
    if (text[pos] === ',') { pos++; i = pos; } else if (i >= text.length || (text[i] === ',' && text[i - 1] !== '\\')) {
      out.push(text.slice(pos, i).replace(/\\/g, ''));
      i++;
      pos = i;
    } else i++;
  }
  return out;
}

/**
 * Classifies the arguments as the real xe does: first its own flags and `name=value`
 * connection settings (anywhere on the line), then what is left: the command, then its
 * parameters (`name=value`, `--switch`). `extra` (XE_EXTRA_ARGS) is read before the line, so
 * the line's settings win; its parameters apply when the line does not give them.
 */
export function parseArgv(tokens: readonly string[], extra: readonly string[] = []): Argv {
  const out: Argv = { conn: {}, params: new Map(), words: [] };
  const usage = (message?: string) => { out.problem ??= message === undefined ? { kind: 'usage' } : { kind: 'usage', message }; };
  const setConn = (key: keyof Connection | 'ignored', v: string) => {
    if (key === 'ignored') return;
    if (key === 'nossl') { out.conn.nossl = v === 'true' || v === ''; return; }
    if (key === 'port' && !(/^\d+$/.test(v) && Number(v) <= 65535)) usage('Port number must be an integer (0-65535)');
    out.conn[key] = v;
  };
  // The client's own arguments, anywhere; the rest in order.
  const own = (list: readonly string[]): string[] => {
    const rest: string[] = [];
    for (let i = 0; i < list.length; i++) {
      const tok = list[i]!;
      const flag = VALUE_FLAGS[tok];
      if (flag !== undefined && i + 1 < list.length) { setConn(flag, list[++i]!); continue; }
      if (SWITCHES.has(tok)) { if (tok === '--nossl') out.conn.nossl = true; continue; }
      if (tok === '--help' || tok === '-help') { usage(); continue; }
      const at = tok.indexOf('=');
      const key = at > 0 ? KEYWORDS[tok.slice(0, at)] : undefined;
      if (key !== undefined) { setConn(key, tok.slice(at + 1)); continue; }
      rest.push(tok);
    }
    return rest;
  };
  const extraRest = own(extra);
  const rest = own(tokens);
  const [command, ...args] = rest;
  if (command === undefined) { usage(); return out; }
  if (command.includes('=')) out.problem ??= { kind: 'syntax' };
  out.command = command;
  const add = (tok: string, fromExtra: boolean) => {
    if (tok.startsWith('--')) { if (!fromExtra || !out.params.has(tok.slice(2))) out.params.set(tok.slice(2), 'true'); return; }
    // A single-dash switch left here is one xe does not know, or one without its value.
    if (tok.startsWith('-')) { out.problem ??= { kind: 'syntax' }; return; }
    const at = tok.indexOf('=');
    if (at < 0) { if (!fromExtra) out.words.push(tok); return; }
    if (fromExtra && out.params.has(tok.slice(0, at))) return;
    setParam(out.params, tok.slice(0, at), tok.slice(at + 1));
  };
  for (const tok of args) add(tok, false);
  for (const tok of extraRest) add(tok, true);
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

/**
 * `map:key=value` parameters of one map, e.g. `properties:lacp-time=fast`, and the legacy
 * `map-key=value` form the real xe still reads (`properties-lacp-time=fast`).
 */
export function mapParams(params: Map<string, string>, map: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of params) {
    if (k.length > map.length + 1 && k.startsWith(map) && (k[map.length] === ':' || k[map.length] === '-')) out[k.slice(map.length + 1)] = v;
  }
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
