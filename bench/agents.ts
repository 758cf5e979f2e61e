// bench/agents: the CPU a host join costs the pool's agents and the master, at 8, 16, 32 and 64
// hosts. A real `xcpnet serve` master in its own process (plain HTTP on loopback, its own host's
// agent in-process, simulated: `--fake-nics 2`), and a real agent (runAgent with the simulated
// host driver) for every other host, in this process, each with its own host credential and
// connection, as a member's serve runs it. Every host carries --networks cross-server private
// networks on the built-in mesh (a tunnel on its eth1, 10.9.x.y/16) and its management on eth0.
// A join: pool.admit_host with the joiner's two NICs, its agent started, a tunnel on each private
// network (tunnel.create, which returns once the joiner's agent has realised it); timed until
// every agent has reported the generation reached (again, until no report moves it). Per join:
// the agents' CPU (this process, divided by the agents in the pool: one agent's share), and the
// master's (its process, its own agent included). Target: agent CPU per join flat from 8 to 64
// hosts (within 1.5×).
// Usage: npx tsc -p . && node dist/bench/agents.js [--hosts 8,16,32,64] [--networks 2] [--joins 3] [--no-master-agent]
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { XapiClient } from '../src/client/index.js';
import { runAgent, type RunningAgent } from '../src/agent/index.js';
import { openHostSide } from '../src/backends/open.js';
import { cpuSeconds, median, spread, startServeProcess } from './support.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const SIZES = opt('--hosts', '8,16,32,64').split(',').map(Number);
const NETWORKS = Number(opt('--networks', '2'));
const JOINS = Number(opt('--joins', '3'));
// The master without its own host's agent (serve --no-agent; its host then carries no tunnel):
// the difference in the master's CPU is what its in-process agent costs it.
const NO_MASTER_AGENT = args.includes('--no-master-agent');

interface Member { agent: RunningAgent; client: XapiClient; reported: number; waiters: { gen: number; done: () => void }[] }

async function pool(size: number): Promise<{ agentMs: number[]; masterMs: number[]; perAgentMs: number[] }> {
  const { child, url, stateDir } = await startServeProcess(NO_MASTER_AGENT ? ['--no-agent'] : ['--fake-nics', '2']);
  const root = await XapiClient.connect({ target: url, user: 'root', password: 'pw' });
  const members: Member[] = [];
  try {
    const call = <T>(m: string, ...p: unknown[]) => root.call(m, ...p) as Promise<T>;
    const masterHost = (await call<string[]>('host.get_all'))[0]!;
    const api = await call<Record<string, unknown>>('host.get_record', masterHost);
    const pifOf = async (host: string, device: string) => {
      const all = await call<Record<string, { host: string; device: string }>>('PIF.get_all_records');
      return Object.entries(all).find(([, p]) => p.host === host && p.device === device)![0];
    };
    const nets: string[] = [];
    for (let k = 0; k < NETWORKS; k++) nets.push(await call<string>('network.create', { name_label: `private-${k}`, name_description: '', MTU: 1500, other_config: {} }));
    const tunnels = async (host: string) => {
      const eth1 = await pifOf(host, 'eth1');
      await Promise.all(nets.map((n) => call('tunnel.create', eth1, n, 'vxlan')));
    };
    // The master's own host on the mesh too (when it has its agent).
    if (!NO_MASTER_AGENT) {
      await call('PIF.reconfigure_ip', await pifOf(masterHost, 'eth1'), 'Static', '10.9.0.1', '255.255.0.0', '', '');
      await tunnels(masterHost);
    }

    let hostNo = 1;
    /** Admits one more host and starts its agent; returns its host ref. */
    const admit = async (): Promise<string> => {
      const i = ++hostNo;
      const uuid = randomUUID();
      const nic = (device: string, n: number, extra: Record<string, unknown>) => ({
        uuid: randomUUID(), device, MAC: `02:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:00:0${n}`, MTU: 1500,
        currently_attached: true, management: false, ip_configuration_mode: 'None', IP: '', netmask: '', gateway: '', DNS: '', ...extra,
      });
      const joiner = {
        uuid, name_label: `host-${i}`, hostname: `host-${i}`, address: `10.0.${i >> 8}.${i & 255}`,
        API_version_major: api.API_version_major, API_version_minor: api.API_version_minor,
        PIFs: [nic('eth0', 0, { management: true }), nic('eth1', 1, { ip_configuration_mode: 'Static', IP: `10.9.${i >> 8}.${i & 255}`, netmask: '255.255.0.0' })],
      };
      const { host, secret } = await call<{ host: string; secret: string }>('pool.admit_host', joiner);
      // From an address of its own, as a member connects (the master takes 64 connections per source).
      const client = await XapiClient.connect({ target: url, user: '', password: '', hostCredential: { host, secret }, originator: 'xcpnet-member',
        localAddress: `127.0.${i >> 8}.${i & 255}` });
      const { backend, guests } = await openHostSide({ hostUuid: uuid, fakeNics: 2 });
      const m: Member = { client, reported: -1, waiters: [], agent: undefined as unknown as RunningAgent };
      m.agent = await runAgent({ client, hostRef: host, backend, guests, onReport: (gen) => {
        m.reported = Math.max(m.reported, gen);
        for (const w of m.waiters.filter((x) => x.gen <= m.reported)) w.done();
        m.waiters = m.waiters.filter((x) => x.gen > m.reported);
      } });
      members.push(m);
      return host;
    };
    const generation = async (): Promise<number> => {
      const r = await call<{ token: string }>('event.from', ['pool'], '', 0);
      return Number(r.token.split(',')[0]);
    };
    /** Every agent has reported the pool's generation, and no report has moved it since. */
    const settled = async (): Promise<void> => {
      for (;;) {
        const gen = await generation();
        await Promise.all(members.map((m) => m.reported >= gen ? undefined : new Promise<void>((done) => m.waiters.push({ gen, done }))));
        if (await generation() === gen) return;
      }
    };

    // The pool up to `size` hosts: admitted, agents started, then their tunnels, 8 hosts at a time.
    const hosts: string[] = [];
    for (let n = 1; n < size; n++) hosts.push(await admit());
    for (let i = 0; i < hosts.length; i += 8) await Promise.all(hosts.slice(i, i + 8).map(tunnels));
    await settled();

    const agentMs: number[] = [];
    const masterMs: number[] = [];
    const perAgentMs: number[] = [];
    for (let j = 0; j <= JOINS; j++) {
      const a0 = process.cpuUsage();
      const m0 = cpuSeconds(child.pid!);
      await tunnels(await admit());
      await settled();
      const a = process.cpuUsage(a0);
      const agents = (a.user + a.system) / 1000;
      const master = (cpuSeconds(child.pid!) - m0) * 1000;
      if (j === 0) continue; // warm-up
      agentMs.push(agents);
      masterMs.push(master);
      perAgentMs.push(agents / members.length);
    }
    return { agentMs, masterMs, perAgentMs };
  } finally {
    for (const m of members) { await m.agent.stop(); await m.client.close().catch(() => {}); }
    await root.close().catch(() => {});
    child.kill();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

console.log(`bench/agents: ${NETWORKS} mesh networks on every host${NO_MASTER_AGENT ? ' but the master\'s (serve --no-agent)' : ''}; ${JOINS} joins after a warm-up, median (min–max)`);
const flat: number[] = [];
for (const size of SIZES) {
  const r = await pool(size);
  flat.push(median(r.perAgentMs));
  console.log(`${String(size).padStart(3)} hosts: one agent's CPU per join ${spread(r.perAgentMs, 1)} ms; all agents ${spread(r.agentMs, 0)} ms; master ${spread(r.masterMs, 0)} ms`);
}
console.log(`one agent's CPU per join, largest / smallest pool: ${(flat[flat.length - 1]! / flat[0]!).toFixed(2)} (target <= 1.5)`);
process.exit(0);
