// Passwords of `xcpnet serve` and `xcpnet user-add`: from a file, standard input or the
// environment, never the command line (ps shows it); a generated root password never in a log.
// bin/xcpnet runs as a child process, as an administrator runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XapiClient } from '../../src/client/index.js';
import { ROOT } from './harness.js';

const XCPNET = join(ROOT, 'bin', 'xcpnet');
const modeOf = (p: string): string => (statSync(p).mode & 0o777).toString(8);
const TIMEOUT = { timeout: 30_000 };
const hasScript = spawnSync('script', ['--version']).status === 0;

/** The environment without any credential the test runner may have. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['XE_USER', 'XE_PASSWORD', 'XCPNET_ROOT_PASSWORD', 'XCPNET_PASSWORD', 'XCPNET_STATE_DIR']) if (!(k in extra)) delete env[k];
  return env;
}

function run(argv: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(XCPNET, argv, { env: cleanEnv(opts.env), input: opts.input ?? '', encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Serving { child: ChildProcess; output: string; stop(): Promise<void> }

/** Starts `cmd` and resolves once its output says the master serves. */
function untilServing(child: ChildProcess): Promise<Serving> {
  let output = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); await exited; };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { void stop(); reject(new Error(`no serving line:\n${output}`)); }, 15_000);
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (/serving XenAPI[^\n]*\n/.test(output)) { clearTimeout(timer); resolve({ child, get output() { return output; }, stop }); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited (${code}):\n${output}`)); });
  });
}

/** The TCP port of the master serving each state directory. */
const ports = new Map<string, number>();

/** Serves plain HTTP on loopback: logins there check the password (the unix socket's do not). */
async function serve(dir: string, extra: string[] = [], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Serving> {
  const child = spawn(XCPNET, ['serve', '--listen', '127.0.0.1:0', '--http', '--no-agent', '--state-dir', dir, ...extra],
    { env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.end(opts.input ?? '');
  const s = await untilServing(child);
  ports.set(dir, Number(/serving XenAPI on http:\/\/127\.0\.0\.1:(\d+)/.exec(s.output)![1]));
  return s;
}

/** Whether `user` logs in with `password` over TCP (where a password is always checked). */
async function canLogIn(dir: string, user: string, password: string): Promise<boolean> {
  try {
    const c = await XapiClient.connect({ target: `http://127.0.0.1:${ports.get(dir)}`, user, password });
    await c.close();
    return true;
  } catch {
    return false;
  }
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'xcpnet-pw-'));
}

test('serve refuses --root-password on the command line, and says how to pass it', () => {
  const dir = tempDir();
  try {
    const r = run(['serve', '--listen', 'none', '--state-dir', join(dir, 'state'), '--root-password', 'sekret']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'xcpnet: --root-password is not taken on the command line, where ps shows it to every user of the machine; '
      + 'use --root-password-file FILE (- for standard input) or XCPNET_ROOT_PASSWORD\n');
    assert.equal(existsSync(join(dir, 'state')), false, 'nothing was created');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve takes root\'s password from --root-password-file FILE, from standard input (-), from XCPNET_ROOT_PASSWORD', TIMEOUT, async () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'pw');
    writeFileSync(file, 'from-a-file\nsecond line ignored\n');
    const cases: Array<[string, string[], { env?: NodeJS.ProcessEnv; input?: string }]> = [
      ['from-a-file', ['--root-password-file', file], {}],
      ['from-stdin', ['--root-password-file', '-'], { input: 'from-stdin\n' }],
      ['from-env', [], { env: { XCPNET_ROOT_PASSWORD: 'from-env' } }],
    ];
    for (const [password, extra, opts] of cases) {
      const s = await serve(join(dir, 'state'), extra, opts);
      try {
        assert.ok(await canLogIn(join(dir, 'state'), 'root', password), password);
        assert.ok(!await canLogIn(join(dir, 'state'), 'root', `${password}-wrong`), 'a wrong password fails');
        assert.ok(!readFileSync(`/proc/${s.child.pid}/cmdline`, 'utf8').includes(password), 'not in ps');
        assert.ok(!s.output.includes(password), 'not in the output');
      } finally {
        await s.stop();
      }
    }
    const empty = run(['serve', '--listen', 'none', '--state-dir', join(dir, 'state'), '--root-password-file', '-'], { input: '\n' });
    assert.equal(empty.status, 1);
    assert.equal(empty.stderr, 'xcpnet: no password in standard input (its first line is empty)\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve with a log for stderr: the generated root password is not in it, but in <state-dir>/root-password (0600)', TIMEOUT, async () => {
  const dir = tempDir();
  try {
    const state = join(dir, 'state');
    const s = await serve(state);
    try {
      const file = join(state, 'root-password');
      assert.equal(modeOf(file), '600');
      assert.equal(modeOf(state), '700');
      const password = readFileSync(file, 'utf8').replace(/\n$/, '');
      assert.ok(password.length >= 16, password);
      assert.ok(!s.output.includes(password), `not in the output:\n${s.output}`);
      assert.match(s.output, new RegExp(`created user root; its password is in ${file}`));
      assert.ok(await canLogIn(state, 'root', password));
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve on a terminal: the generated root password is shown there once, and no file keeps it', { skip: hasScript ? false : 'needs script(1)', timeout: 30_000 }, async () => {
  const dir = tempDir();
  try {
    const state = join(dir, 'state');
    // script(1) gives serve a terminal; killing script hangs the terminal up, which ends serve.
    const child = spawn('script', ['-qfec', `exec ${XCPNET} serve --listen 127.0.0.1:0 --http --no-agent --state-dir ${state}`, '/dev/null'],
      { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const s = await untilServing(child);
    ports.set(state, Number(/serving XenAPI on http:\/\/127\.0\.0\.1:(\d+)/.exec(s.output)![1]));
    try {
      const m = /xcpnet: created user root with password (\S+) \(shown once, stored nowhere\)/.exec(s.output);
      assert.ok(m, s.output);
      assert.equal(existsSync(join(state, 'root-password')), false);
      assert.ok(await canLogIn(state, 'root', m[1]!));
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('user-add takes the password from --password-file FILE, from standard input (-), from XCPNET_PASSWORD', TIMEOUT, async () => {
  const dir = tempDir();
  try {
    const state = join(dir, 'state');
    const file = join(dir, 'pw');
    writeFileSync(file, 'alice-pw\n');
    assert.deepEqual(run(['user-add', 'alice', 'pool-admin', '--password-file', file, '--state-dir', state]),
      { status: 0, stdout: 'xcpnet: user alice (pool-admin) saved\n', stderr: '' });
    // A state directory user-add makes is as private as the master's.
    assert.equal(modeOf(state), '700');
    assert.equal(modeOf(join(state, 'xcpnet.db')), '600');
    assert.equal(run(['user-add', 'bob', 'read-only', '--password-file', '-', '--state-dir', state], { input: 'bob-pw\n' }).status, 0);
    assert.equal(run(['user-add', 'carol', 'read-only', '--state-dir', state], { env: { XCPNET_PASSWORD: 'carol-pw' } }).status, 0);
    const s = await serve(state, [], { env: { XCPNET_ROOT_PASSWORD: 'root-pw' } });
    try {
      for (const [user, pw] of [['alice', 'alice-pw'], ['bob', 'bob-pw'], ['carol', 'carol-pw']] as const) {
        assert.ok(await canLogIn(state, user, pw), user);
      }
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('user-add refuses a password on the command line, and one from nowhere', () => {
  const dir = tempDir();
  try {
    const state = join(dir, 'state');
    const ways = 'use --password-file FILE (- for standard input) or XCPNET_PASSWORD';
    assert.deepEqual(run(['user-add', 'dave', 'pool-admin', 'dave-pw', '--state-dir', state]), {
      status: 1, stdout: '',
      stderr: `xcpnet: the password is not taken on the command line, where ps shows it to every user of the machine; ${ways}\n`,
    });
    assert.deepEqual(run(['user-add', 'dave', 'pool-admin', '--state-dir', state]),
      { status: 1, stdout: '', stderr: `xcpnet: no password for dave: ${ways}\n` });
    assert.equal(existsSync(state), false, 'nothing was created');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('user-add --password-file - on a terminal asks without echo', { skip: hasScript ? false : 'needs script(1)', timeout: 30_000 }, async () => {
  const dir = tempDir();
  try {
    const state = join(dir, 'state');
    const child = spawn('script', ['-qfec', `exec ${XCPNET} user-add erin read-only --password-file - --state-dir ${state}`, '/dev/null'],
      { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const done = new Promise<number | null>((r) => child.once('exit', r));
    await new Promise<void>((resolve) => {
      child.stdout!.on('data', (d: Buffer) => { output += d.toString(); if (output.includes('Password for erin: ')) resolve(); });
    });
    // Typed only once the prompt is there: echo is off by then.
    child.stdin!.write('erin-pw\r');
    assert.equal(await done, 0, output);
    assert.ok(!output.includes('erin-pw'), `no echo:\n${output}`);
    assert.match(output, /xcpnet: user erin \(read-only\) saved/);
    const s = await serve(state, [], { env: { XCPNET_ROOT_PASSWORD: 'root-pw' } });
    try {
      assert.ok(await canLogIn(state, 'erin', 'erin-pw'));
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
