// Benchmark: wall time of `xe network-list --minimal` against a server holding 1,000 networks,
// as a ratio to `node -e ''` (Node's own start-up, the floor) measured in the same run.
// Usage: npx tsc -p . && node dist/bench/xe.js [runs]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { XapiClient } from '../src/client/xapi-client.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RUNS = Number(process.argv[2] ?? 15);
const NETWORKS = 1000;
const PASSWORD = 'bench';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function timeRuns(cmd: string, args: string[], env: NodeJS.ProcessEnv, check?: (out: string) => void, runs = RUNS): number[] {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    times.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    check?.(r.stdout);
  }
  return times;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-xe-'));
  const server = spawn(process.execPath, [join(ROOT, 'dist/src/bin/xcpnet.js'), 'serve', '--listen', 'none', '--state-dir', dir],
    { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, XCPNET_ROOT_PASSWORD: PASSWORD } });
  try {
    await new Promise<void>((res, rej) => {
      let log = '';
      server.stdout!.on('data', (d: Buffer) => { log += d.toString(); if (log.includes('serving XenAPI')) res(); });
      server.on('exit', (c) => rej(new Error(`xcpnet serve exited (${c})`)));
    });
    const c = await XapiClient.connect({ target: `unix:${join(dir, 'xapi.sock')}`, user: 'root', password: PASSWORD });
    const have = (await c.call<string[]>('network.get_all')).length;
    for (let i = have; i < NETWORKS; i++) {
      await c.call('network.create', { name_label: `bench${i}`, name_description: '', MTU: 1500, other_config: {}, tags: [] });
    }
    await c.close();

    const env = { ...process.env, XCPNET_STATE_DIR: dir, XE_USER: 'root', XE_PASSWORD: PASSWORD };
    const check = (out: string): void => {
      const n = out.trim().split(',').length;
      if (n < NETWORKS) throw new Error(`expected ${NETWORKS} uuids, got ${n}: ${out.slice(0, 300)}`);
    };
    // Warm the file cache once; then run the three series interleaved, so that load from
    // anything else on the machine hits them alike.
    const xeArgs = ['network-list', '--minimal'];
    timeRuns(join(ROOT, 'bin/xe'), xeArgs, env, check, 1);
    const t = { node: [] as number[], xe: [] as number[], direct: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      t.node.push(...timeRuns(process.execPath, ['-e', ''], env, undefined, 1));
      t.xe.push(...timeRuns(join(ROOT, 'bin/xe'), xeArgs, env, check, 1));
      t.direct.push(...timeRuns(process.execPath, [join(ROOT, 'dist/src/bin/xe.js'), ...xeArgs], env, check, 1));
    }
    const [node, xe, xeDirect] = [median(t.node), median(t.xe), median(t.direct)];
    console.log(`networks: ${NETWORKS}, runs: ${RUNS} (medians)`);
    console.log(`node -e ''                          : ${node.toFixed(1)} ms`);
    console.log(`bin/xe network-list --minimal       : ${xe.toFixed(1)} ms  ratio ${(xe / node).toFixed(2)} (target <= 3)`);
    console.log(`node dist/src/bin/xe.js (no sh)     : ${xeDirect.toFixed(1)} ms  ratio ${(xeDirect / node).toFixed(2)}`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
