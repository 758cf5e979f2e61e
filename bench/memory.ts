// bench/memory: the master's memory per 1,000 networks against a plain Map of the same records.
// In one process (re-run with --expose-gc): a master (startMaster, no agent) is given N networks
// (transactions of 100, as a busy pool would have them), then serves network.get_all_records once
// over HTTP so its read caches are warm, as on a serving master; the growth of the heap plus
// array buffers from before the networks to after is divided by N/1,000. Baseline: the records
// of that reply parsed into a Map from ref to record, in a fresh process holding nothing else
// (what a program keeping the same data in the plainest way holds). Target: ≤ 2× the plain Map.
// Usage: npx tsc -p . && node dist/bench/memory.js [--networks 10000]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { RULES } from '../src/server/impl/index.js';
import { startMaster } from '../src/server/serve.js';
import { networkFields } from './support.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  const r = spawnSync(process.execPath, ['--expose-gc', process.argv[1]!, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--networks') + 1] ?? 10_000) || 10_000;

function used(): number {
  for (let i = 0; i < 4; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-mem-'));
  try {
    // Plain HTTP on loopback, as the other benches' masters.
    const master = await startMaster({ stateDir: dir, listen: { host: '127.0.0.1', port: 0 }, http: 'loopback', rootPassword: 'pw', impls: RULES, log: () => {} });
    const url = `http://127.0.0.1:${master.listener.tcpPort}/jsonrpc`;
    // node:http, the reply's text only kept when asked for (the client's buffers must not be what is measured).
    const rpc = (method: string, params: unknown[], keep = true) => new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
      const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => { if (keep) chunks.push(c); });
        res.on('end', () => resolve(Buffer.concat(chunks).toString()));
      });
      req.on('error', reject);
      req.end(body);
    });
    const session = (JSON.parse(await rpc('session.login_with_password', ['root', 'pw', '2.23', 'bench'])) as { result: string }).result;
    await rpc('network.get_all_records', [session], false);
    const before = used();
    for (let i = 0; i < N; i += 100) {
      master.server.store.transact((tx) => { for (let j = i; j < Math.min(N, i + 100); j++) tx.create('network', networkFields(j) as never); });
    }
    await rpc('network.get_all_records', [session], false);
    const after = used();
    // The baseline, in a fresh process holding nothing else: the same records parsed from the
    // reply's text into a Map, the text let go.
    const replyFile = join(dir, 'reply.json');
    writeFileSync(replyFile, await rpc('network.get_all_records', [session]));
    const child = spawnSync(process.execPath, ['--expose-gc', '-e', `
      const used = () => { for (let i = 0; i < 4; i++) gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
      const m0 = used();
      const map = (() => new Map(Object.entries(JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8')).result)))();
      console.log(JSON.stringify({ bytes: used() - m0, size: map.size }));`, replyFile], { encoding: 'utf8' });
    const baseline = JSON.parse(child.stdout) as { bytes: number; size: number };
    const ours = ((after - before) / N) * 1000;
    const plain = (baseline.bytes / N) * 1000;
    console.log(`bench/memory: ${N} networks`);
    console.log(`xcpnet master: ${(ours / 1024).toFixed(0)} KiB per 1,000 networks`);
    console.log(`plain Map:     ${(plain / 1024).toFixed(0)} KiB per 1,000 networks (${baseline.size} records)`);
    console.log(`ratio (target <= 2): ${(ours / plain).toFixed(2)}`);
    await master.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
