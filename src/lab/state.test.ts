// The lab's files: its directory 0700, its state file 0600 and free of the master's password,
// which `lab env` reads from its file when the lines run instead of printing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDir, saveState, statePath, masterPassword, type LabState } from './state.js';
import { labEnv } from './index.js';

const modeOf = (p: string): string => (statSync(p).mode & 0o777).toString(8);

test('the lab directory is 0700 and state.json 0600 whatever the umask; lab env never prints the password', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'xcpnet-labstate-'));
  const old = process.umask(0);
  try {
    const dir = labDir(stateDir, 'pw');
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755); // made wide by an older xcpnet
    const passwordFile = join(dir, 'master', 'root-password');
    mkdirSync(join(dir, 'master'));
    writeFileSync(passwordFile, 'lab-secret-pw\n', { mode: 0o600 });
    const state: LabState = {
      version: 1, name: 'pw', prefix: 'xlpw-', dir, status: 'up', hosts: [], nics: 1, namespaces: [], rootLinks: [], processes: [],
      master: { dir: join(dir, 'master'), url: 'http://127.0.0.1:1', socket: join(dir, 'master', 'xapi.sock'), username: 'root', passwordFile },
    };
    saveState(state);
    assert.equal(modeOf(dir), '700');
    assert.equal(modeOf(statePath(dir)), '600');
    assert.ok(!readFileSync(statePath(dir), 'utf8').includes('lab-secret-pw'), 'state.json holds no password');
    assert.equal(masterPassword(state), 'lab-secret-pw');

    const lines = labEnv({ stateDir, name: 'pw' });
    assert.ok(!lines.includes('lab-secret-pw'), lines);
    // What `eval "$(xcpnet lab env)"` gives a shell.
    const env = execFileSync('/bin/sh', ['-c', `${lines}printf '%s|%s' "$XE_USER" "$XE_PASSWORD"`], { encoding: 'utf8' });
    assert.equal(env, 'root|lab-secret-pw');
  } finally {
    process.umask(old);
    rmSync(stateDir, { recursive: true, force: true });
  }
});
