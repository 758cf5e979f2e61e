// bench/api: reads over JSON-RPC keep-alive with 16 concurrent clients, as a ratio to a bare
// node:http server answering the very same response bytes, measured in the same run:
// network.get_record (1,000 networks) and network.get_all_records at 1,000 and 10,000 networks,
// idle and while one more client writes sequentially (VM.create: another class; and, for
// information, network.set_name_description: the class being read). The bare server gets the
// writer's requests too and answers them with a short reply, so it pays for none of the writes:
// it is the floor of sending those bytes. Rounds alternate bare / xcpnet; median (min–max).
// Targets: ≥ 0.5; get_all_records of 10,000 with a writer ≥ 1.0.
// Run: npx tsc -p . && node dist/bench/api.js [--rounds 3] [--agent]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XapiClient } from '../src/client/index.js';
import { background, load, post, prefillNetworks, rpcBody, spread, startServeProcess } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const ROUNDS = Number(opt('--rounds', '3'));
const CONCURRENCY = 16;

const cleanup: Array<() => void> = [];
process.on('exit', () => { for (const f of cleanup.reverse()) f(); });

/** A bare node:http server answering each request with the body of the first case whose marker its request contains. */
async function bareServer(dir: string, answers: Array<{ marker: string; body: string }>): Promise<number> {
  const file = join(dir, 'answers.json');
  writeFileSync(file, JSON.stringify(answers));
  const child = spawn(process.execPath, ['-e', `
    const answers = JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8'));
    require('node:http').createServer((req, res) => {
      let b = ''; req.on('data', (d) => b += d); req.on('end', () => {
        const body = answers.find((a) => b.includes(a.marker)).body;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body);
      });
    }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => child.kill('SIGKILL'));
  return new Promise<number>((resolve) => child.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
}


async function pool(networks: number): Promise<{ port: number; session: string; dir: string; nets: string[]; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-api-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir);
  prefillNetworks(stateDir, networks);
  const master = await startServeProcess(args.includes('--agent') ? [] : ['--no-agent'], stateDir);
  cleanup.push(() => master.child.kill('SIGKILL'));
  const c = await XapiClient.connect({ target: master.url, user: 'root', password: 'pw' });
  const nets = await c.call<string[]>('network.get_all');
  return {
    port: master.port, session: c.session!, dir, nets,
    async stop() { await c.close(); master.child.kill('SIGTERM'); await new Promise((r) => master.child.once('exit', r)); },
  };
}

async function main(): Promise<void> {
  console.log(`bench/api: ${CONCURRENCY} concurrent JSON-RPC keep-alive clients; ${ROUNDS} rounds, median (min–max)`);
  console.log('call                               networks  writer         xcpnet req/s        bare req/s          ratio');
  for (const networks of [1000, 10_000]) {
    const p = await pool(networks);
    const cases = [
      ...(networks === 1000 ? [{ name: 'network.get_record', body: rpcBody('network.get_record', [p.session, p.nets[500]]), total: 20_000 }] : []),
      { name: 'network.get_all_records', body: rpcBody('network.get_all_records', [p.session]), total: networks >= 10_000 ? 200 : 1000 },
    ];
    const writers = [
      { name: 'none', body: '' },
      { name: 'VM.create', body: rpcBody('VM.create', [p.session, { name_label: 'writer' }]) },
      { name: 'network.set_*', body: rpcBody('network.set_name_description', [p.session, p.nets[1], 'written']) },
    ];
    for (const k of cases) {
      // The bare server answers the read with xcpnet's own reply bytes, and the writer with a short result.
      const agent = new Agent({ keepAlive: true });
      const readReply = await post(p.port, k.body, agent);
      agent.destroy();
      const bare = await bareServer(p.dir, [
        { marker: k.name, body: readReply },
        { marker: 'VM.create', body: '{"jsonrpc":"2.0","result":"OpaqueRef:00000000-0000-0000-0000-000000000000","id":0}' },
        { marker: 'set_name_description', body: '{"jsonrpc":"2.0","result":"","id":0}' },
      ]);
      for (const w of writers) {
        if (w.name !== 'none' && k.name === 'network.get_record') continue;
        const ours: number[] = [], base: number[] = [], ratios: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const run = async (port: number) => {
            const wAgent = new Agent({ keepAlive: true, maxSockets: 1 });
            const writer = w.body ? background(() => post(port, w.body, wAgent)) : undefined;
            const rate = await load(port, '/jsonrpc', k.body, k.total, CONCURRENCY);
            await writer?.stop();
            wAgent.destroy();
            return rate;
          };
          base.push(await run(bare));
          ours.push(await run(p.port));
          ratios.push(ours.at(-1)! / base.at(-1)!);
        }
        console.log(`${k.name.padEnd(35)}${String(networks).padStart(8)}  ${w.name.padEnd(13)}  ${spread(ours, 0).padEnd(18)}  ${spread(base, 0).padEnd(18)}  ${spread(ratios)}`);
      }
    }
    await p.stop();
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
