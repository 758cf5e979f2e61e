// xe's entry point: parse, find the command, check required parameters, connect lazily, run,
// and turn every failure into xe's error output with exit status 1 (never a stack trace).
import { localSocket } from '../common/paths.js';
import { readFileSync } from 'node:fs';
import { XapiClient } from '../client/xapi-client.js';
import { normalizeFingerprint, type Trust } from '../client/trust.js';
import { parseArgv, splitExtraArgs, UsageError, type Argv } from './args.js';
import type { Env } from './command.js';
import { errorLines, USAGE_HINT } from './errors.js';
import { USAGE } from './help.js';
import { findCommand } from './registry.js';

export interface Io {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Where to connect, and as whom, from the flags and the environment. */
export function connectionOf(argv: Argv, env: NodeJS.ProcessEnv): { target: string; user: string; password: string; trust: Trust } {
  const { conn } = argv;
  let target: string;
  if (conn.server !== undefined) {
    // As the real xe: TLS on port 443 unless --nossl (then plain HTTP, port 80).
    const host = conn.server.includes(':') && !conn.server.startsWith('[') ? `[${conn.server}]` : conn.server;
    target = conn.nossl ? `http://${host}:${conn.port ?? '80'}` : `https://${host}:${conn.port ?? '443'}`;
  } else {
    // The local socket: no TLS, and (as xapi's) trusted without a password.
    target = `unix:${localSocket(env)}`;
  }
  const trust = trustOf(conn.caFile ?? env.XE_CA_FILE, conn.fingerprint ?? env.XE_FINGERPRINT);
  if (conn.passwordFile !== undefined) return { target, trust, ...readPasswordFile(conn.passwordFile) };
  return { target, trust, user: conn.user ?? env.XE_USER ?? 'root', password: conn.password ?? env.XE_PASSWORD ?? '' };
}

/** Whom to trust over TLS: a pinned fingerprint, else the certificates of a CA file, else the system's CAs. */
function trustOf(caFile: string | undefined, fingerprint: string | undefined): Trust {
  if (fingerprint) {
    try { return { fingerprint: normalizeFingerprint(fingerprint) }; } catch (e) { throw new UsageError([`Error: ${(e as Error).message}`]); }
  }
  if (!caFile) return {};
  try {
    return { ca: readFileSync(caFile, 'utf8') };
  } catch {
    throw new UsageError([`Error opening CA file '${caFile}'`]);
  }
}

/** xe's -pwf file, as the real xe reads it: the user on the first line, the password on the second; it wins over -u and -pw. */
function readPasswordFile(file: string): { user: string; password: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError([`Error opening password file '${file}'`]);
  }
  const lines = text.split('\n');
  // Two lines, each ended by a newline except perhaps the second.
  if (lines.length < 2 || (lines.length === 2 && lines[1] === '')) {
    throw new UsageError(['Error: password file format: expecting username on the first line, password on the second line']);
  }
  return { user: lines[0]!, password: lines[1]! };
}

export async function openClient(argv: Argv, env: NodeJS.ProcessEnv): Promise<XapiClient> {
  const { target, user, password, trust } = connectionOf(argv, env);
  if (user === '') throw new UsageError(['Username/password must be specified', USAGE_HINT]);
  return XapiClient.connect({ target, user, password, originator: 'cli', trust });
}

export async function main(args: string[], io: Io): Promise<number> {
  let client: XapiClient | undefined;
  let login: Promise<XapiClient> | undefined;
  let stdout = '';
  try {
    if (args[0] === '--complete') {
      const { complete } = await import('./completion.js');
      const cands = await complete(args[1] ?? '', async (argv) => (client = await openClient(argv, io.env)));
      stdout = cands.map((c) => `${c}\n`).join('');
      return 0;
    }
    if (args.includes('--bash-completion')) {
      stdout = (await import('./completion.js')).BASH_COMPLETION;
      return 0;
    }
    const argv = parseArgv(args, splitExtraArgs(io.env.XE_EXTRA_ARGS ?? ''));
    // As the real xe: --help, no command or a bad port print the usage on stderr (status 0);
    // a switch it does not know, or a name=value where the command belongs, is a syntax error.
    if (argv.problem?.kind === 'usage') {
      io.stderr([...(argv.problem.message === undefined ? [] : [argv.problem.message]), ...USAGE, ''].join('\n'));
      return 0;
    }
    if (argv.problem?.kind === 'syntax') throw new UsageError(['Syntax error: ', USAGE_HINT]);
    const name = argv.command ?? 'help';
    // Log in while the command and the IDL load: the login round trip is most of xe's run
    // time. A login failure only surfaces when the command asks for the client.
    if (name !== 'help') {
      login = openClient(argv, io.env);
      login.then((c) => { client = c; }, () => undefined);
    }
    const cmd = await findCommand(name);
    if (cmd === undefined) throw new UsageError([`Unknown command: ${name}`, USAGE_HINT]);
    for (const r of cmd.reqd) {
      if (!argv.params.has(r)) throw new UsageError([`Required parameter not found: ${r}`, USAGE_HINT]);
    }
    const env: Env = {
      params: argv.params,
      words: argv.words,
      client: async () => (client ??= await (login ??= openClient(argv, io.env))),
      out: (text) => { stdout += text; },
    };
    await cmd.run(env);
    return 0;
  } catch (e) {
    let lines: string[];
    try {
      lines = await errorLines(e, client);
    } catch {
      lines = [`Error: ${e instanceof Error ? e.message : String(e)}`];
    }
    io.stdout(stdout);
    stdout = '';
    io.stderr(lines.map((l) => `${l}\n`).join(''));
    return 1;
  } finally {
    if (stdout !== '') io.stdout(stdout);
    if (login !== undefined) client ??= await login.catch(() => undefined);
    if (client !== undefined) await client.close();
  }
}
