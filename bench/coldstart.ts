// bench/coldstart: `xcpnet serve` starting on a state directory holding 10,000 networks, against
// the raw load: a `node` process that opens the same database with better-sqlite3, reads every
// row and parses it into a Map, then exits (Node's start-up plus the load; the floor). xcpnet is
// timed from the spawn to its "serving XenAPI" line; without its in-process agent (--no-agent)
// and, for information, with it (the default, a single-host install). One untimed start makes
// the pool first; then the series alternate. Median (min–max) of --rounds. Target: ≤ 1.5×.
// For the account of the time, also Node's own start (`node -e ''`) and a node process that only
// imports the modules `xcpnet serve` imports.
// Usage: npx tsc -p . && node dist/bench/coldstart.js [--networks 10000] [--rounds 5]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XCPNET_JS, prefillNetworks, spread } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const N = Number(opt('--networks', '10000'));
const ROUNDS = Number(opt('--rounds', '5'));

const RAW_LOAD = `
  const Database = require('better-sqlite3');
  const db = new Database(process.argv[1], { readonly: true });
  const m = new Map();
  for (const r of db.prepare('SELECT ref, cls, data FROM objects').all()) m.set(r.ref, JSON.parse(r.data));
  if (m.size < ${N}) throw new Error('short load');`;

/** Wall time of a node process running `args`. */
function timeNode(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`node ${args.join(' ').slice(0, 80)} failed`);
  return performance.now() - t0;
}

const timeRaw = (db: string) => timeNode(['-e', RAW_LOAD, db]);

// What `xcpnet serve` imports (src/bin/xcpnet.ts), without running it: the price of its modules.
const DIST = join(process.cwd(), 'dist/src');
const IMPORTS = ['server/serve.js', 'server/impl/index.js', 'bin/password.js', 'bin/local-agent.js', 'common/paths.js', 'common/sd-notify.js']
  .map((m) => `import('${join(DIST, m)}')`).join(', ');

async function timeServe(stateDir: string, extra: string[]): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [XCPNET_JS, 'serve', '--state-dir', stateDir, '--listen', '127.0.0.1:0', ...extra],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  const ms = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => { out += d; if (out.includes('serving XenAPI')) resolve(performance.now() - t0); });
    child.on('exit', (c) => reject(new Error(`serve exited ${c}: ${out}`)));
  });
  child.removeAllListeners('exit');
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
  return ms;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-cold-'));
  try {
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir);
    prefillNetworks(stateDir, N);
    process.env.XCPNET_ROOT_PASSWORD = 'pw';
    await timeServe(stateDir, []);
    delete process.env.XCPNET_ROOT_PASSWORD;
    const db = join(stateDir, 'xcpnet.db');
    const raw: number[] = [], bare: number[] = [], agent: number[] = [], node: number[] = [], modules: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      raw.push(timeRaw(db));
      bare.push(await timeServe(stateDir, ['--no-agent']));
      agent.push(await timeServe(stateDir, []));
      node.push(timeNode(['-e', '']));
      modules.push(timeNode(['--input-type=module', '-e', `await Promise.all([${IMPORTS}])`]));
    }
    const ratio = (xs: number[]) => xs.map((x, i) => x / raw[i]!);
    console.log(`bench/coldstart: ${N} networks; ${ROUNDS} rounds, median (min–max)`);
    console.log(`raw load + node start:       ${spread(raw, 0)} ms`);
    console.log(`xcpnet serve --no-agent:     ${spread(bare, 0)} ms   ratio ${spread(ratio(bare))} (target <= 1.5)`);
    console.log(`xcpnet serve (with agent):   ${spread(agent, 0)} ms   ratio ${spread(ratio(agent))}`);
    console.log(`where it goes: node -e '' ${spread(node, 0)} ms; node importing serve's modules ${spread(modules, 0)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
