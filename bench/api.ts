// bench/api: get_record and get_all_records (1,000 networks) over JSON-RPC keep-alive with 16
// concurrent clients, as a ratio to a bare node:http server answering the same bodies,
// measured in the same run. Target: ratio ≥ 0.5. Run: npx tsc -p . && node dist/bench/api.js
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XapiClient } from '../src/client/index.js';
import { load, median, startServeProcess } from './support.js';

const CONCURRENCY = 16;

async function main(): Promise<void> {
  const master = await startServeProcess();
  // Whatever happens, end the processes this benchmark started.
  process.on('exit', () => { master.child.kill('SIGTERM'); rmSync(master.stateDir, { recursive: true, force: true }); });
  const c = await XapiClient.connect({ target: master.url, user: 'root', password: 'pw' });
  const session = (c as unknown as { sessionRef: string }).sessionRef;
  const nets: string[] = [];
  for (let i = 0; i < 1000; i++) nets.push(await c.call<string>('network.create', { name_label: `bench-${i}`, MTU: 1500, other_config: { i: String(i) } }));

  const cases = [
    { name: 'network.get_record', params: [session, nets[500]], total: 20000 },
    { name: 'network.get_all_records', params: [session], total: 400 },
  ];
  // The baseline answers every request with the exact bytes xcpnet answered.
  const bodies: string[] = [];
  for (const k of cases) {
    const r = await fetch(`${master.url}/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: k.name, params: k.params }) });
    bodies.push(await r.text());
  }
  const bodiesFile = join(master.stateDir, 'bodies.json');
  writeFileSync(bodiesFile, JSON.stringify(bodies));
  const baseline = spawn(process.execPath, ['-e', `
    const bodies = JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8'));
    require('node:http').createServer((req, res) => {
      let b = ''; req.on('data', (d) => b += d); req.on('end', () => {
        const body = b.includes('get_all_records') ? bodies[1] : bodies[0];
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body);
      });
    }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`, bodiesFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => { baseline.kill('SIGTERM'); });
  const basePort = await new Promise<number>((resolve) => baseline.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));

  console.log(`bench/api: ${CONCURRENCY} concurrent JSON-RPC keep-alive clients, 1,000 networks`);
  console.log('call                        xcpnet req/s   bare node:http req/s   ratio (target >= 0.5)');
  for (const k of cases) {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 0, method: k.name, params: k.params });
    const ours: number[] = [], base: number[] = [];
    for (let round = 0; round < 3; round++) {
      base.push(await load(basePort, '/jsonrpc', body, k.total, CONCURRENCY));
      ours.push(await load(master.port, '/jsonrpc', body, k.total, CONCURRENCY));
    }
    const o = median(ours), b = median(base);
    console.log(`${k.name.padEnd(28)}${o.toFixed(0).padStart(12)}   ${b.toFixed(0).padStart(20)}   ${(o / b).toFixed(2).padStart(6)}`);
  }
  await c.close();
  master.child.kill('SIGTERM');
  baseline.kill('SIGTERM');
}

main().catch((e) => { console.error(e); process.exit(1); });
