// docs/tutorial.md, run: every command of its `console` blocks, in order, in one shell pointed at a
// fresh lab (as `eval "$(./bin/xcpnet lab env)"` points a learner's shell), and each command's
// output compared with what the tutorial shows, uuids, MACs, bridge ids, times and lab names aside.
// TUTORIAL_RECORD=1 writes the outputs of this run into the tutorial instead (then review the diff).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labsOfThisFile, canRunLab } from '../../src/lab/testkit.js';
import { labEnv } from '../../src/lab/index.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const DOC = join(ROOT, 'docs', 'tutorial.md');
const skip = canRunLab();
const lab = labsOfThisFile();

interface Step { cmd: string; expected: string[]; line: number }

/** The `$ command` lines of the console blocks, each with the lines shown after it. */
export function parseTutorial(text: string): Step[] {
  const steps: Step[] = [];
  let inConsole = false;
  text.split('\n').forEach((l, i) => {
    if (l.startsWith('```')) { inConsole = !inConsole && l.trim() === '```console'; return; }
    if (!inConsole) return;
    if (l.startsWith('$ ')) steps.push({ cmd: l.slice(2), expected: [], line: i });
    else steps.at(-1)?.expected.push(l);
  });
  return steps;
}

/** What differs from run to run: ids, addresses the machine picks, times, the lab's name. */
export function normalise(s: string): string {
  return s
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b/g, '<mac>')
    .replace(/\b8000\.[0-9a-f]{12}\b/g, '<bridge-id>')
    .replace(/\btime \d+ms/g, 'time <t>')
    .replace(/\bvif\d+\.(\d+)/g, 'vif<domid>.$1')
    .replace(/\bxl[a-z0-9]+-(h\d+e\d+|up|sw)\b/g, 'xllab-$1')
    // Columns padded to the lab's name.
    .replace(/ {2,}/g, ' ')
    .replace(/[ \t]+$/gm, '');
}

describe('docs/tutorial.md', { skip, concurrency: false }, () => {
  test('every command shows what the tutorial says it shows', async () => {
    const text = readFileSync(DOC, 'utf8');
    const steps = parseTutorial(text);
    assert.ok(steps.length > 30, `${steps.length} commands`);
    const l = await lab('tut', { hosts: 2, nics: 5 });
    const marker = (i: number): string => `@@tutorial-step-${i}@@`;
    const script = [labEnv({ name: l.name, stateDir: l.stateDir }), ...steps.map((s, i) => `printf '%s\\n' '${marker(i)}'\n${s.cmd} 2>&1`)].join('\n');
    const out = await new Promise<string>((resolve, reject) => {
      execFile('/bin/sh', ['-c', script], { cwd: ROOT, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err && !stdout) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(String(stdout));
      });
    });
    const actual = steps.map((_, i) => {
      const from = out.indexOf(`${marker(i)}\n`);
      const to = i + 1 < steps.length ? out.indexOf(`${marker(i + 1)}\n`) : out.length;
      assert.ok(from >= 0, `step ${i} ran: ${steps[i]!.cmd}`);
      return out.slice(from + marker(i).length + 1, to).replace(/\n$/, '');
    });
    if (process.env.TUTORIAL_RECORD === '1') {
      const lines = text.split('\n');
      for (let i = steps.length - 1; i >= 0; i--) {
        const s = steps[i]!;
        // The lab's name as a learner's default lab has it.
        const shown = actual[i]!.replace(new RegExp(`\\b${l.state.prefix}`, 'g'), 'xllab-');
        lines.splice(s.line + 1, s.expected.length, ...(shown === '' ? [] : shown.split('\n')));
      }
      writeFileSync(DOC, lines.join('\n'));
      return;
    }
    steps.forEach((s, i) => {
      assert.equal(normalise(actual[i]!), normalise(s.expected.join('\n')), `docs/tutorial.md line ${s.line + 1}: $ ${s.cmd}`);
    });
  });
});
