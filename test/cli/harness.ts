// Transcript tests for xe: a real `xcpnet serve` (fake backend, temp state dir, free port) and
// `bin/xe` as a child process; each step asserts the exact stdout, stderr and exit status.
//
// Expected texts are templates: `{name}` is a value captured earlier, `{?name}` matches a uuid
// (or any token for `{?name:any}`) and captures it, `{*}` matches anything on one line.
import { ERRORS } from '../../src/idl/errors.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

/** Repository root (this file runs from dist/test/cli). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const XE = join(ROOT, 'bin', 'xe');
export const PASSWORD = 'transcript-pw';

export interface Server {
  dir: string;
  port: number;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function startServer(extra: string[] = []): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-xe-'));
  const child: ChildProcess = spawn(process.execPath,
    [join(ROOT, 'dist/src/bin/xcpnet.js'), 'serve', '--listen', '127.0.0.1:0', '--state-dir', dir, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XCPNET_ROOT_PASSWORD: PASSWORD } });
  let log = '';
  const port = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`xcpnet serve did not start:\n${log}`)), 15000);
    const onData = (d: Buffer): void => {
      log += d.toString();
      const m = /serving XenAPI on https?:\/\/[^:]+:(\d+)/.exec(log);
      if (m) { clearTimeout(timer); res(Number(m[1])); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    child.on('exit', (code) => { clearTimeout(timer); rej(new Error(`xcpnet serve exited (${code}):\n${log}`)); });
  });
  const env = { ...process.env, XCPNET_STATE_DIR: dir, XE_USER: 'root', XE_PASSWORD: PASSWORD };
  return {
    dir, port, env,
    stop: async () => {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Result {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** A JSON-RPC call seen by a CallWatch, and whether the server has answered it yet. */
export interface WatchedCall { method: string; params: unknown[]; answered: boolean }

/**
 * An HTTP proxy in front of the server that records the calls passing through it. A test points xe
 * at it (`-s 127.0.0.1 -p <port>`) and waits for a call to be in flight, e.g. to know that
 * `xe event-wait` is parked in event.from, without guessing with a sleep.
 */
export interface CallWatch {
  port: number;
  calls: WatchedCall[];
  /** Resolves with the first call (seen so far or later) that matches. */
  seen(match: (c: WatchedCall) => boolean): Promise<WatchedCall>;
  close(): Promise<void>;
}

export async function startCallWatch(server: Server): Promise<CallWatch> {
  const calls: WatchedCall[] = [];
  const listeners = new Set<() => void>();
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const { method, params } = JSON.parse(body.toString()) as { method: string; params: unknown[] };
      const call: WatchedCall = { method, params, answered: false };
      calls.push(call);
      for (const l of listeners) l();
      // The master serves TLS with the certificate it made in its state directory; the proxy
      // itself speaks plain HTTP on loopback, so xe reaches it with --nossl.
      const ca = readFileSync(join(server.dir, 'server.pem'));
      const up = request({ host: '127.0.0.1', port: server.port, path: req.url, method: req.method, headers: req.headers, ca }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
        r.on('end', () => { call.answered = true; });
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    port: (proxy.address() as AddressInfo).port,
    calls,
    seen: (match) => new Promise((resolve) => {
      const check = (): void => {
        const hit = calls.find(match);
        if (hit) { listeners.delete(check); resolve(hit); }
      };
      listeners.add(check);
      check();
    }),
    close: () => new Promise((r) => { proxy.closeAllConnections(); proxy.close(() => r()); }),
  };
}

/** Runs bin/xe with already-split arguments. */
export function runXe(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Result> {
  return new Promise((res) => {
    // An undefined value removes the variable (spawn would pass the string "undefined").
    const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));
    const child = spawn(XE, args, { env: clean, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => res({ stdout, stderr, status }));
    child.stdin.end(input ?? '');
  });
}

/** Splits a command line like a shell would for simple cases: spaces, and "double quotes". */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let any = false;
  for (const ch of line) {
    if (ch === '"') { quoted = !quoted; any = true; } else if (ch === ' ' && !quoted) {
      if (any) out.push(cur);
      cur = ''; any = false;
    } else { cur += ch; any = true; }
  }
  if (any) out.push(cur);
  return out;
}

export interface Step {
  /** The command line after `xe`, with `{name}` placeholders. */
  cmd: string;
  stdout?: string;
  stderr?: string;
  /** Defaults to 0 when stderr is empty, else 1. */
  status?: number;
  /** Match stdout against a regular expression instead (named groups are captured). */
  stdoutRe?: RegExp;
  /** Capture the whole trimmed stdout into this variable. */
  capture?: string;
  /** Extra environment for this step. */
  env?: NodeJS.ProcessEnv;
  /** Raw arguments (no placeholder or word splitting), e.g. for values with spaces. */
  args?: string[];
}

export type Vars = Record<string, string>;

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Matches `actual` against a template; captured values go into `vars`. */
export function matchTemplate(template: string, actual: string, vars: Vars, what: string): void {
  const names: string[] = [];
  let re = '';
  let last = 0;
  const token = /\{(\?)?([A-Za-z0-9_*]+)(?::(any))?\}/g;
  for (let m = token.exec(template); m; m = token.exec(template)) {
    re += escapeRe(template.slice(last, m.index));
    last = m.index + m[0].length;
    const [, capture, name, any] = m;
    if (name === '*') re += '[^\\n]*';
    else if (capture) { names.push(name!); re += any ? '([^\\s,;]*)' : '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'; } else {
      if (!(name! in vars)) throw new Error(`${what}: template uses {${name}} before it was captured`);
      re += escapeRe(vars[name!]!);
    }
  }
  re += escapeRe(template.slice(last));
  const m = new RegExp(`^${re}$`).exec(actual);
  if (!m) {
    // Show the template with known values filled in, for a readable diff.
    const shown = template.replace(token, (all, cap, name) => (cap || name === '*' ? all : vars[name] ?? all));
    assert.equal(actual, shown, what);
  }
  names.forEach((n, i) => { vars[n] = m![i + 1]!; });
}

export function fill(s: string, vars: Vars): string {
  return s.replace(/\{([A-Za-z0-9_]+)\}/g, (all, name: string) => {
    if (!(name in vars)) throw new Error(`{${name}} used before it was captured`);
    return vars[name]!;
  });
}

/** Runs the steps in order against the server; stops at the first mismatch. */
export async function runTranscript(server: Server, steps: Step[], vars: Vars = {}): Promise<Vars> {
  for (const step of steps) {
    const args = step.args ?? splitWords(fill(step.cmd, vars));
    const r = await runXe(args, { ...server.env, ...step.env });
    const what = `xe ${args.join(' ')}`;
    const status = step.status ?? ((step.stderr ?? '') === '' ? 0 : 1);
    const context = `${what}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
    assert.equal(r.status, status, `exit status of ${context}`);
    matchTemplate(step.stderr ?? '', r.stderr, vars, `stderr of ${what}`);
    if (step.capture !== undefined) vars[step.capture] = r.stdout.trim();
    else if (step.stdoutRe !== undefined) {
      const m = step.stdoutRe.exec(r.stdout);
      assert.ok(m, `stdout of ${what} should match ${step.stdoutRe}, got ${JSON.stringify(r.stdout)}`);
      Object.assign(vars, m.groups ?? {});
    } else matchTemplate(step.stdout ?? '', r.stdout, vars, `stdout of ${what}`);
  }
  return vars;
}

/** Lines joined with newlines, plus a final newline: `lines('a', 'b')` = "a\nb\n". */
export function lines(...ls: string[]): string {
  return ls.map((l) => `${l}\n`).join('');
}

/** A printed record: aligned rows, then the two blank lines. */
export function record(rows: [string, string][]): string {
  const width = 4 + Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, v], i) => `${i === 0 ? l.padEnd(width) : l.padStart(width)}: ${v}\n`).join('') + '\n\n';
}

/** The one-line description xe prints first for an API error. */
export const doc = (code: string): string => ERRORS[code]!.doc;
/** A failure raised inside xe itself, printed as INTERNAL_ERROR. */
export const internal = (msg: string): string => lines(doc('INTERNAL_ERROR'), `message: Failure: ${msg}`);
/** A usage error: the message, then the hint to run `xe help`. */
export const USAGE_HINT = "For usage run: 'xe help'";
export const usage = (msg: string): string => lines(msg, USAGE_HINT);
export const unknownCommand = (name: string): string => usage(`Unknown command: ${name}`);
export const missingParam = (name: string): string => usage(`Required parameter not found: ${name}`);

/** Steps that scan the first host's NICs and capture {host} and, per device, {ethN}. */
export function scanSteps(devices: string[]): Step[] {
  return [
    { cmd: 'host-list --minimal', capture: 'host' },
    { cmd: 'pif-scan host-uuid={host}' },
    ...devices.map((d) => ({ cmd: `pif-list device=${d} --minimal`, stdout: `{?${d}}\n` })),
  ];
}
