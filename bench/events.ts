// bench/events: 50 event.from watchers following 1,000 writes, against a bare long-poll server
// (bench/bare-longpoll: a durable write per create, each event encoded once, waiting polls woken).
// One writer creates 1,000 networks one after the other; each watcher (its own session and
// keep-alive socket) loops on event.from(["network"], token, 30) until it has seen all 1,000.
// Timed from the first write to the last watcher done; also the server's CPU per write.
// Rounds alternate bare / xcpnet; ratio = xcpnet time ÷ bare time of the same round. Target ≤ 1.3.
// Usage: npx tsc -p . && node dist/bench/events.js [--watchers 50] [--writes 1000] [--rounds 3]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, post, rpcBody, spread, startServeProcess } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const WATCHERS = Number(opt('--watchers', '50'));
const WRITES = Number(opt('--writes', '1000'));
const ROUNDS = Number(opt('--rounds', '3'));

const cleanup: Array<() => void> = [];
process.on('exit', () => { for (const f of cleanup.reverse()) f(); });


type Result = { events: Array<{ class: string; operation: string; snapshot?: { name_label?: string } }>; token: string };

/** One round: WATCHERS watchers and one writer of WRITES creates; returns seconds and server CPU seconds. */
async function round(port: number, pid: number, sessions: string[], tag: string): Promise<{ seconds: number; cpu: number; polls: number }> {
  let polls = 0;
  const agents = sessions.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
  const tokens = await Promise.all(sessions.map(async (s, i) =>
    (JSON.parse(await post(port, rpcBody('event.from', [s, ['network'], '', 0]), agents[i]!)) as { result: Result }).result.token));
  const watch = async (i: number) => {
    let seen = 0;
    let token = tokens[i]!;
    while (seen < WRITES) {
      const r = JSON.parse(await post(port, rpcBody('event.from', [sessions[i], ['network'], token, 30]), agents[i]!)) as { result?: Result; error?: unknown };
      polls++;
      if (!r.result) throw new Error(`event.from failed: ${JSON.stringify(r.error)}`);
      // Only the writer creates networks during a round.
      for (const e of r.result.events) if (e.operation === 'add' && e.class === 'network' && e.snapshot) seen++;
      token = r.result.token;
    }
  };
  const wAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const cpu0 = cpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  const watchers = Promise.all(sessions.map((_, i) => watch(i)));
  for (let i = 0; i < WRITES; i++) {
    const r = await post(port, rpcBody('network.create', [sessions[0], { name_label: `${tag}${i}`, MTU: 1500, other_config: {} }]), wAgent);
    if (!r.includes('"result":"OpaqueRef:')) throw new Error(`network.create failed: ${r.slice(0, 200)}`);
  }
  await watchers;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(pid) - cpu0;
  for (const a of [...agents, wAgent]) a.destroy();
  return { seconds, cpu, polls };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-bench-events-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'state'));
  const master = await startServeProcess(args.includes('--agent') ? [] : ['--no-agent'], join(dir, 'state'));
  cleanup.push(() => master.child.kill('SIGKILL'));
  // One login after the other: concurrent attempts from one address count against its login limit.
  // Logins on connections of their own that close at once: a source may hold only so many
  // connections (64), and the watchers need 51.
  const once = new Agent({ keepAlive: false });
  const sessions: string[] = [];
  for (let i = 0; i < WATCHERS; i++) sessions.push((JSON.parse(await post(master.port, rpcBody('session.login_with_password', ['root', 'pw', '2.23', 'bench']), once)) as { result: string }).result);
  const agent = new Agent({ keepAlive: true });
  // The bare server's snapshot: the record xcpnet sends for such a network.
  const sample = (JSON.parse(await post(master.port, rpcBody('network.create', [sessions[0], { name_label: 'sample', MTU: 1500, other_config: {} }]), agent)) as { result: string }).result;
  const recordText = JSON.stringify((JSON.parse(await post(master.port, rpcBody('network.get_record', [sessions[0], sample]), agent)) as { result: unknown }).result);
  agent.destroy();
  writeFileSync(join(dir, 'snapshot.json'), recordText);
  const bare = spawn(process.execPath, [join(process.cwd(), 'dist/bench/bare-longpoll.js'), dir, join(dir, 'snapshot.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => bare.kill('SIGKILL'));
  const barePort = await new Promise<number>((resolve) => bare.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));

  const ours: number[] = [], base: number[] = [], ratios: number[] = [], cpuOurs: number[] = [], cpuBase: number[] = [];
  const pollsOurs: number[] = [], pollsBase: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const b = await round(barePort, bare.pid!, sessions, `b${r}-`);
    const o = await round(master.port, master.child.pid!, sessions, `x${r}-`);
    base.push(b.seconds); ours.push(o.seconds); ratios.push(o.seconds / b.seconds);
    cpuBase.push((b.cpu / WRITES) * 1000); cpuOurs.push((o.cpu / WRITES) * 1000);
    pollsBase.push(b.polls / WRITES); pollsOurs.push(o.polls / WRITES);
  }
  console.log(`bench/events: ${WATCHERS} event.from watchers, ${WRITES} sequential network.create; ${ROUNDS} rounds, median (min–max)`);
  console.log(`bare long-poll: ${spread(base)} s, server CPU ${spread(cpuBase)} ms/write, ${spread(pollsBase, 1)} polls/write`);
  console.log(`xcpnet:         ${spread(ours)} s, server CPU ${spread(cpuOurs)} ms/write, ${spread(pollsOurs, 1)} polls/write`);
  console.log(`ratio (xcpnet time / bare time, target <= 1.3): ${spread(ratios)}`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
