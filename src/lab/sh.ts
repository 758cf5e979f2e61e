// Running the lab's commands (iproute2, ovs-vsctl…) with their argv, never through a shell.
import { execFile } from 'node:child_process';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class CommandError extends Error {
  constructor(readonly argv: string[], readonly result: RunResult) {
    super(`${argv.join(' ')} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  /** Run inside this network namespace (`ip netns exec`). */
  ns?: string;
  /** Return the failure instead of throwing. */
  allowFail?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Bound on the command's run time; the lab never waits forever. */
  timeoutMs?: number;
  input?: string;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const argv = opts.ns ? ['ip', 'netns', 'exec', opts.ns, cmd, ...args] : [cmd, ...args];
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), {
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 30_000,
      maxBuffer: 16 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      const result = { stdout: String(stdout), stderr: String(stderr), code };
      if (code !== 0 && !opts.allowFail) reject(new CommandError(argv, result));
      else resolve(result);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** `ip [-n ns] args…` */
export function ip(ns: string | undefined, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ns ? ['-n', ns, ...args] : args, opts);
}

/** `ip -json …` parsed; an empty output is an empty list. */
export async function ipJson<T>(ns: string | undefined, args: string[]): Promise<T[]> {
  const r = await ip(ns, ['-json', ...args]);
  const text = r.stdout.trim();
  return text === '' ? [] : (JSON.parse(text) as T[]);
}
