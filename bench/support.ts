// Shared bits of the benchmarks: start a real master in its own process, drive HTTP load,
// prefill a state directory, read a process's CPU time, summarise runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../src/db/store.js';
import { CLASSES, RELATIONS } from '../src/idl/index.js';

export const XCPNET_JS = join(process.cwd(), 'dist/src/bin/xcpnet.js');

export async function startServeProcess(extra: string[] = [], stateDir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-'))):
  Promise<{ child: ChildProcess; url: string; stateDir: string; port: number }> {
  // Plain HTTP on loopback: the baselines are bare node:http servers.
  const child = spawn(process.execPath, [XCPNET_JS, 'serve', '--state-dir', stateDir, '--listen', '127.0.0.1:0', '--http', ...extra],
    { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, XCPNET_ROOT_PASSWORD: 'pw' } });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => { out += d; const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out); if (m) resolve(m[1]!); });
    child.on('exit', (c) => reject(new Error(`serve exited ${c}`)));
  });
  return { child, url, stateDir, port: Number(new URL(url).port) };
}

/** The fields network.create gives a network (bridge xapi<i>), for prefilled pools. */
export function networkFields(i: number): Record<string, unknown> {
  return {
    name_label: `bench-${i}`, name_description: '', MTU: 1500, other_config: { i: String(i) }, bridge: `xapi${i}`, managed: true,
    purpose: [], default_locking_mode: 'unlocked', assigned_ips: {}, blobs: {}, tags: [],
  };
}

/** Writes `n` networks into the state directory's database in one transaction (the server is not running). */
export function prefillNetworks(stateDir: string, n: number): void {
  const store = new Store({ path: join(stateDir, 'xcpnet.db'), classes: CLASSES, relations: RELATIONS });
  store.transact((tx) => { for (let i = 0; i < n; i++) tx.create('network', networkFields(i) as never); });
  store.close();
}

/** User + system CPU seconds a process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime), in clock ticks (100 per second on Linux).
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** One JSON-RPC 2.0 request body. */
export const rpcBody = (method: string, params: unknown[]): string => JSON.stringify({ jsonrpc: '2.0', id: 0, method, params });

/** POSTs `body` `total` times from `concurrency` keep-alive clients; returns requests per second. */
export async function load(port: number, path: string, body: string, total: number, concurrency: number,
  check?: (reply: string) => void): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let left = total;
  const one = () => new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => { if (check) chunks.push(c); });
      res.on('end', () => {
        if (res.statusCode !== 200) { reject(new Error(`HTTP ${res.statusCode}`)); return; }
        try { check?.(Buffer.concat(chunks).toString()); resolve(); } catch (e) { reject(e); }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
  const worker = async () => { while (left-- > 0) await one(); };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  return total / seconds;
}

/** Runs `fn` again and again until `stop()` is called; resolves when the last run ends. */
export function background(fn: () => Promise<unknown>): { stop(): Promise<void>; runs(): number } {
  let stopped = false;
  let n = 0;
  const done = (async () => { while (!stopped) { await fn(); n++; } })();
  return { async stop() { stopped = true; await done; }, runs: () => n };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** "median (min–max)" of a series, with `digits` decimals. */
export function spread(xs: number[], digits = 2): string {
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

/** One JSON-RPC POST to a loopback server, its reply text. */
export function post(port: number, body: string, agent: Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/jsonrpc', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(body);
  });
}
