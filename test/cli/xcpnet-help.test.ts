// `--help` on every xcpnet command and lab subcommand, and `--version`: each printed from the one
// declared source (src/bin/help.ts), by bin/xcpnet run as a user runs it. Nothing here needs a master.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './harness.js';
import { LAB_COMMANDS, XCPNET_COMMANDS } from '../../src/bin/help.js';

const XCPNET = join(ROOT, 'bin', 'xcpnet');
const run = (...argv: string[]) => spawnSync(XCPNET, argv, { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH } });

test('every command and lab subcommand answers --help (and -h) with its usage, options and nothing else', () => {
  for (const c of [...XCPNET_COMMANDS, ...LAB_COMMANDS]) {
    for (const flag of ['--help', '-h']) {
      const r = run(...c.name.split(' '), flag);
      assert.equal(r.status, 0, `${c.name} ${flag}: ${r.stderr}`);
      assert.ok(r.stdout.startsWith(`usage: xcpnet ${c.name}`), `${c.name} ${flag}:\n${r.stdout}`);
      for (const [f] of c.options ?? []) assert.ok(r.stdout.includes(f), `${c.name} --help lists ${f}`);
    }
  }
  // Every command xcpnet runs has its help (a command added without one is caught here).
  const overview = run('--help').stdout;
  for (const c of XCPNET_COMMANDS) assert.match(overview, new RegExp(`^  ${c.name} `, 'm'));
  assert.match(run('lab', '--help').stdout, /^ {2}graph \[--format/m);
});

test('--help after -- belongs to the command lab exec runs', () => {
  const r = run('lab', 'exec', 'host1', '--', 'ip', '--help', '--name', 'no-such-lab-x');
  assert.notEqual(r.status, 0);
  assert.doesNotMatch(r.stdout, /^usage: xcpnet lab exec/);
});

test('--version prints the package version', () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(run('--version').stdout, `xcpnet ${version}\n`);
});

test('a mistyped command or option says what was meant and where the options are listed', () => {
  const cmd = run('bridgs');
  assert.equal(cmd.status, 2);
  assert.match(cmd.stderr, /^xcpnet: unknown command bridgs; did you mean xcpnet bridges\?/);
  const sub = run('lab', 'stauts');
  assert.equal(sub.status, 2);
  assert.match(sub.stderr, /unknown command stauts; did you mean xcpnet lab status\?/);
  const opt = run('explain', 'a', 'b', '--nmae', 'x');
  assert.equal(opt.status, 2);
  assert.match(opt.stderr, /Unknown option '--nmae'.*\(xcpnet explain --help lists its options\)/);
});

test('errors say the way forward: no master there, no such lab (and which labs there are)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-help-'));
  try {
    const nomaster = run('bridges', '--state-dir', dir);
    assert.equal(nomaster.status, 1);
    assert.match(nomaster.stderr, /Is a master running there\? Start one \(xcpnet serve\), give its --state-dir, or point this shell at a lab: eval "\$\(.*xcpnet lab env\)"/);
    mkdirSync(join(dir, 'lab', 'other'), { recursive: true });
    writeFileSync(join(dir, 'lab', 'other', 'state.json'), JSON.stringify({ version: 1, name: 'other', hosts: [] }));
    const nolab = run('lab', 'status', '--name', 'nosuch', '--state-dir', dir);
    assert.equal(nolab.status, 1);
    assert.match(nolab.stderr, /lab nosuch is not up .*; run: .*xcpnet lab up --name nosuch; labs in .*: other \(--name L\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
