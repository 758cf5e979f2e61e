// bench/writes: network.create through the API against raw durable commits, at 0, 10,000 and
// 50,000 networks already in the pool. Baseline: better-sqlite3 (WAL, synchronous=FULL, as the
// store opens its database) committing one fsync'd single-row transaction per write, each row
// the size of a stored network under a random ref as the store's, into a table prefilled with
// as many rows. xcpnet: `xcpnet serve --no-agent` on a state directory prefilled with the
// networks, `network.create` over JSON-RPC keep-alive, from 1 client (sequential) and from 16
// concurrent clients. Rounds are interleaved (raw, sequential, concurrent) so that the disk's
// mood hits all alike; ratio = xcpnet writes/s ÷ raw commits/s of the same round. A second
// baseline, bench/bare-writer, is a bare node:http server making the raw commit for each request
// (the HTTP round trip plus the commit, nothing else), from the same clients. Also the server's
// CPU per write (all its threads). Target: ≥ 0.5× raw at 10,000 networks.
// Usage: npx tsc -p . && node dist/bench/writes.js [--sizes 0,10000,50000] [--rounds 3] [--agent]
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XapiClient } from '../src/client/index.js';
import { cpuSeconds, load, networkFields, prefillNetworks, rpcBody, spread, startServeProcess } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const SIZES = opt('--sizes', '0,10000,50000').split(',').map(Number);
const ROUNDS = Number(opt('--rounds', '3'));
const WITH_AGENT = args.includes('--agent');
const CONCURRENCY = 16;
/** Writes per measurement: fewer on big pools, where each write costs more. */
const writesFor = (n: number) => (n >= 50_000 ? 300 : n >= 10_000 ? 500 : 1000);

const cleanup: Array<() => void> = [];
process.on('exit', () => { for (const f of cleanup.reverse()) f(); });

/** A raw database like the store's, prefilled with `n` rows; `commit()` writes one more row durably. */
function rawDb(dir: string, n: number, row: string): { commitMany(k: number): number; close(): void } {
  const db = new Database(join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE objects (ref TEXT PRIMARY KEY, cls TEXT NOT NULL, data TEXT NOT NULL)');
  const put = db.prepare('INSERT INTO objects (ref, cls, data) VALUES (?, ?, ?)');
  // Keys as the store's: random uuids, so each row lands where a new object's would.
  db.transaction(() => { for (let i = 0; i < n; i++) put.run(`OpaqueRef:${randomUUID()}`, 'network', row); })();
  return {
    /** k single-row transactions, one after the other; returns commits per second. */
    commitMany(k: number): number {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < k; i++) db.transaction(() => put.run(`OpaqueRef:${randomUUID()}`, 'network', row))();
      return k / (Number(process.hrtime.bigint() - t0) / 1e9);
    },
    close: () => db.close(),
  };
}

/** bench/bare-writer on a database prefilled with `n` rows; its port. */
async function bareWriter(dir: string, n: number, row: string): Promise<number> {
  const rowFile = join(dir, 'row.txt');
  writeFileSync(rowFile, row);
  const child = spawn(process.execPath, [join(process.cwd(), 'dist/bench/bare-writer.js'), join(dir, 'bare.db'), String(n), rowFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => child.kill('SIGKILL'));
  return new Promise<number>((resolve) => child.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
}

async function main(): Promise<void> {
  console.log(`bench/writes: network.create vs raw fsync'd single-row SQLite transactions; ${ROUNDS} rounds, median (min–max)${WITH_AGENT ? '; with the in-process agent' : ''}`);
  console.log('networks  clients  raw commits/s       bare http writes/s  xcpnet writes/s     xcpnet/raw         xcpnet/bare http   server CPU ms/write');
  for (const n of SIZES) {
    const dir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-writes-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const stateDir = join(dir, 'state');
    prefillNetworks(mkdir(stateDir), n);
    const master = await startServeProcess(WITH_AGENT ? [] : ['--no-agent'], stateDir);
    cleanup.push(() => master.child.kill('SIGKILL'));
    const c = await XapiClient.connect({ target: master.url, user: 'root', password: 'pw' });
    const session = c.session!;
    const body = rpcBody('network.create', [session, { name_label: 'w', MTU: 1500, other_config: {} }]);
    const ok = (reply: string) => { if (!reply.includes('"result":"OpaqueRef:')) throw new Error(`network.create failed: ${reply.slice(0, 300)}`); };
    // One write warms the server (its bridge counter scans past the prefilled names once).
    await load(master.port, '/jsonrpc', body, 1, 1, ok);
    // A stored network's row, for the baseline's rows.
    const sample = JSON.stringify(networkFields(n));
    const rowText = sample.padEnd(sample.length + 200, ' ');
    const raw = rawDb(dir, n, rowText);
    const bare = await bareWriter(dir, n, rowText);
    const k = writesFor(n);
    const r = { raw: [] as number[], bareSeq: [] as number[], bareConc: [] as number[], seq: [] as number[], conc: [] as number[], cpu: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      r.raw.push(raw.commitMany(k));
      r.bareSeq.push(await load(bare, '/jsonrpc', body, k, 1, ok));
      r.bareConc.push(await load(bare, '/jsonrpc', body, k, CONCURRENCY, ok));
      const cpu0 = cpuSeconds(master.child.pid!);
      r.seq.push(await load(master.port, '/jsonrpc', body, k, 1, ok));
      r.cpu.push(((cpuSeconds(master.child.pid!) - cpu0) / k) * 1000);
      r.conc.push(await load(master.port, '/jsonrpc', body, k, CONCURRENCY, ok));
    }
    const ratio = (xs: number[], to: number[]) => xs.map((x, i) => x / to[i]!);
    const line = (clients: number, bareRate: number[], ours: number[], cpu: string) => console.log(
      `${String(n).padStart(8)}  ${String(clients).padStart(7)}  ${spread(r.raw, 0).padEnd(18)}  ${spread(bareRate, 0).padEnd(18)}  ` +
      `${spread(ours, 0).padEnd(18)}  ${spread(ratio(ours, r.raw)).padEnd(17)}  ${spread(ratio(ours, bareRate)).padEnd(17)}  ${cpu}`);
    line(1, r.bareSeq, r.seq, spread(r.cpu));
    line(CONCURRENCY, r.bareConc, r.conc, '');
    raw.close();
    await c.close();
    master.child.kill('SIGTERM');
    await new Promise((res) => master.child.once('exit', res));
  }
}

function mkdir(p: string): string {
  mkdirSync(p, { recursive: true });
  return p;
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
