// A lab without surprises (issue 15 item 4), driven through bin/xcpnet as a learner drives it:
// Ctrl-C during `lab up` says what it left and `lab up` completes it; another size is refused;
// the printed eval line works in a fresh shell; one reply per ping to a management address;
// every NIC's PIF plugged; `add-nic` names the pif-scan to run; `cable` names the bond's updelay.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canRunLab } from '../../src/lab/testkit.js';
import { labDown } from '../../src/lab/index.js';
import { loadState } from '../../src/lab/state.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const XCPNET = join(ROOT, 'bin', 'xcpnet');
const skip = canRunLab();
const name = `surp${process.pid % 100000}`;
const stateDir = mkdtempSync('/tmp/xcpt-lab-');
/** A fresh login shell's environment: no lab variables, no credentials, the checkout's bin/ not on PATH. */
const FRESH_ENV: NodeJS.ProcessEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8' };

after(async () => {
  await labDown({ name, stateDir, progress: () => undefined }).catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
});

interface Ran { code: number | null; stdout: string; stderr: string }

function run(argv: string[], opts: { cwd?: string; shell?: boolean } = {}): Promise<Ran> {
  const [cmd, args] = opts.shell ? ['/bin/sh', ['-c', argv[0]!]] : [XCPNET, argv];
  return new Promise((resolve) => {
    execFile(cmd, args as string[], { env: FRESH_ENV, cwd: opts.cwd ?? ROOT, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const lab = (...argv: string[]): Promise<Ran> => run(['lab', ...argv, '--name', name, '--state-dir', stateDir]);

describe('a lab without surprises', { skip, concurrency: false }, () => {
  test('Ctrl-C during lab up says what it left; another size is refused; lab up completes it; the eval hint works in a fresh shell', async () => {
    const child = spawn(XCPNET, ['lab', 'up', '--name', name, '--state-dir', stateDir, '--hosts', '2', '--nics', '3'], { env: FRESH_ENV, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // Interrupt once the hosts are built, while the pool is being started.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (/host[12]: namespace/.test(stdout)) { child.kill('SIGINT'); resolve(); }
      });
      child.once('exit', () => reject(new Error(`lab up ended before it could be interrupted:\n${stdout}${stderr}`)));
    });
    assert.equal(await exited, 130, `exit status after Ctrl-C\n${stdout}${stderr}`);
    assert.match(stderr, /interrupted; lab surp\d+ is left half-built/);
    assert.match(stderr, /complete it: .*lab up --name surp/);
    assert.match(stderr, /remove it: .*lab down --name surp/);
    assert.equal(loadState(join(stateDir, 'lab', name))?.status, 'building');

    const bigger = await lab('up', '--hosts', '3');
    assert.notEqual(bigger.code, 0, 'another size is an error');
    assert.match(bigger.stderr, /you asked for 3 hosts \(it has 2\).*lab down --name surp/);

    const done = await lab('up');
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /completing lab surp/);
    const state = loadState(join(stateDir, 'lab', name))!;
    assert.equal(state.master!.url, 'https://192.0.2.11', 'the master URL is recorded: host1\'s management address');
    assert.match(state.master!.view!.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the forwarded HTTPS for a browser is recorded');

    // The hint of `lab up` run from the checkout, and of `lab up` run elsewhere (the lab is up: it only prints).
    for (const cwd of [ROOT, '/tmp']) {
      const up = cwd === ROOT ? done : await run(['lab', 'up', '--name', name, '--state-dir', stateDir], { cwd });
      const line = /Point xe at this lab: +(eval .*)$/m.exec(up.stdout)?.[1];
      assert.ok(line, up.stdout);
      const r = await run([`${line} && xe host-list params=name-label --minimal && xcpnet lab status --name ${name} | head -1`], { shell: true, cwd });
      assert.equal(r.code, 0, `${line} in ${cwd}: ${r.stderr}`);
      assert.match(r.stdout, /host1/);
      assert.match(r.stdout, /lab surp\d+: up/);
    }
  });

  // sh -c 'script' $0 $1…: pass xe's arguments as positional parameters, never pasted into the script.
  function runXe(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('/bin/sh', ['-c', `eval "$(${XCPNET} lab env --name ${name} --state-dir ${stateDir})" && xe "$@"`, 'sh', ...args],
        { env: FRESH_ENV, timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`xe ${args.join(' ')}: ${stderr}`)) : resolve(String(stdout).trim())));
    });
  }

  test('one reply per ping to a management address, from upstream and from another host', async () => {
    const prefix = loadState(join(stateDir, 'lab', name))!.prefix;
    for (const ns of [`${prefix}up`, `${prefix}host2`]) {
      const r = await new Promise<Ran>((resolve) => execFile('ip', ['netns', 'exec', ns, 'ping', '-c', '3', '-i', '0.2', '-W', '1', '192.0.2.11'],
        { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout: String(stdout), stderr: String(stderr) })));
      assert.equal(r.code, 0, r.stdout);
      assert.doesNotMatch(r.stdout, /DUP!/, `from ${ns}`);
      assert.match(r.stdout, /3 packets transmitted, 3 received/);
    }
  });

  test('every NIC of a fresh lab host is plugged, as xcpnet serve plugs its own', async () => {
    for (const h of ['host1', 'host2']) {
      const attached = await runXe('pif-list', `host-name-label=${h}`, 'physical=true', 'params=currently-attached', '--minimal');
      assert.deepEqual(attached.split(','), ['true', 'true', 'true'], h);
    }
  });

  test('add-nic prints the pif-scan that makes the PIF; cable names the updelay of a bond member', async () => {
    const added = await lab('add-nic', 'host2');
    assert.equal(added.code, 0, added.stderr);
    const scan = /(\S*xe) pif-scan (host-uuid=[0-9a-f-]{36})/.exec(added.stdout);
    assert.ok(scan, added.stdout);
    await runXe('pif-scan', scan[2]!);
    assert.match(await runXe('pif-list', 'host-name-label=host2', 'device=eth3', 'params=uuid', '--minimal'), /^[0-9a-f-]{36}$/);

    const pif = (dev: string): Promise<string> => runXe('pif-list', 'host-name-label=host1', `device=${dev}`, 'VLAN=-1', 'params=uuid', '--minimal');
    const net = await runXe('network-create', 'name-label=bonded');
    await runXe('bond-create', `network-uuid=${net}`, `pif-uuids=${await pif('eth1')},${await pif('eth2')}`, 'mode=active-backup');
    assert.equal((await lab('cable', 'host1', 'eth1', 'down')).code, 0);
    const back = await lab('cable', 'host1', 'eth1', 'up');
    assert.match(back.stdout, /host1 eth1: a member of bond bond\d+: it carries traffic again only after the bond's updelay of 31 s/);
    const plain = await lab('cable', 'host2', 'eth1', 'up');
    assert.doesNotMatch(plain.stdout, /updelay/, 'a NIC outside a bond has no updelay to wait');
  });
});
