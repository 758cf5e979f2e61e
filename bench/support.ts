// Shared bits of the benchmarks: start a real master in its own process, drive HTTP load.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const XCPNET_JS = join(process.cwd(), 'dist/src/bin/xcpnet.js');

export async function startServeProcess(extra: string[] = []): Promise<{ child: ChildProcess; url: string; stateDir: string; port: number }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-'));
  const child = spawn(process.execPath, [XCPNET_JS, 'serve', '--state-dir', stateDir, '--listen', '127.0.0.1:0', ...extra],
    { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, XCPNET_ROOT_PASSWORD: 'pw' } });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => { out += d; const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out); if (m) resolve(m[1]!); });
    child.on('exit', (c) => reject(new Error(`serve exited ${c}`)));
  });
  return { child, url, stateDir, port: Number(new URL(url).port) };
}

/** POSTs `body` `total` times from `concurrency` keep-alive clients; returns requests per second. */
export async function load(port: number, path: string, body: string, total: number, concurrency: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let left = total;
  const one = () => new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
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

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
