// Secrets at rest: the master's state directory and database are its user's only, whatever the
// umask of whoever starts it, and a generated root password never reaches the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XapiClient } from '../client/index.js';
import { startMaster } from './serve.js';

const modeOf = (p: string): string => (statSync(p).mode & 0o777).toString(8);

/** Runs `fn` with umask 0, as a careless service manager might start us, then restores it. */
async function withUmask0<T>(fn: () => Promise<T>): Promise<T> {
  const old = process.umask(0);
  try { return await fn(); } finally { process.umask(old); }
}

test('the state directory is 0700, the database and its -wal and -shm 0600, whatever the umask', async () => {
  const base = mkdtempSync(join(tmpdir(), 'xcpnet-modes-'));
  try {
    for (const stateDir of [join(base, 'new', 'state'), join(base, 'open')]) {
      if (stateDir.endsWith('open')) { mkdirSync(stateDir); chmodSync(stateDir, 0o777); }
      const logged: string[] = [];
      const master = await withUmask0(() => startMaster({ stateDir, listen: null, rootPassword: 'pw', log: (l) => logged.push(l) }));
      try {
        assert.equal(modeOf(stateDir), '700', stateDir);
        for (const f of ['xcpnet.db', 'xcpnet.db-wal', 'xcpnet.db-shm']) assert.equal(modeOf(join(stateDir, f)), '600', `${stateDir}/${f}`);
        if (stateDir.endsWith('open')) assert.ok(logged.some((l) => l.includes(`state directory ${stateDir} was mode 777, now 700`)), logged.join('\n'));
      } finally {
        await master.close();
      }
    }
    // Files left open by an older version are tightened when the master opens them again.
    const open = join(base, 'open');
    for (const f of ['xcpnet.db', 'xcpnet.db-wal', 'xcpnet.db-shm']) if (existsSync(join(open, f))) chmodSync(join(open, f), 0o644);
    const again = await withUmask0(() => startMaster({ stateDir: open, listen: null, log: () => {} }));
    try {
      for (const f of ['xcpnet.db', 'xcpnet.db-wal', 'xcpnet.db-shm']) assert.equal(modeOf(join(open, f)), '600', f);
    } finally {
      await again.close();
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('a generated root password is not logged when stderr is no terminal: it is in <state-dir>/root-password, 0600', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'xcpnet-rootpw-'));
  const logged: string[] = [];
  const master = await withUmask0(() => startMaster({ stateDir, listen: null, tty: false, log: (l) => logged.push(l) }));
  try {
    const file = join(stateDir, 'root-password');
    assert.equal(modeOf(file), '600');
    const password = readFileSync(file, 'utf8').replace(/\n$/, '');
    assert.match(password, /^[A-Za-z0-9_-]{16}$/);
    assert.ok(!logged.join('\n').includes(password), `the password is not in the log:\n${logged.join('\n')}`);
    assert.ok(logged.some((l) => l.includes(file)), 'the log names the file');
    const c = await XapiClient.connect({ target: `unix:${master.socketPath}`, user: 'root', password });
    await c.close();
  } finally {
    await master.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('on a terminal a generated root password is shown there once and stored nowhere', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'xcpnet-rootpw-'));
  const logged: string[] = [];
  const shown: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => { shown.push(String(chunk)); return true; }) as typeof process.stderr.write;
  let master;
  try {
    master = await startMaster({ stateDir, listen: null, tty: true, log: (l) => logged.push(l) });
  } finally {
    process.stderr.write = write;
  }
  try {
    const m = /^xcpnet: created user root with password (\S+) \(shown once, stored nowhere\)\n$/.exec(shown.join(''));
    assert.ok(m, shown.join(''));
    assert.ok(!logged.join('\n').includes(m[1]!), 'not in the log');
    assert.equal(existsSync(join(stateDir, 'root-password')), false);
  } finally {
    await master.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
