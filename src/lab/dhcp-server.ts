// The lab's DHCP server: Debian's dnsmasq, run in the upstream namespace and bound to the
// upstream's own interfaces there (one per VLAN: 1, 10, 20), serving the upper half of each
// lab subnet. DHCP only (--port=0: no DNS server); the leases name the upstream gateway as
// router and DNS server and `lab.test` as the domain. Its files (leases, pid, log) live in the
// lab directory; it reads no configuration of the machine's (--conf-file=/dev/null). Argv only.
import { closeSync, mkdirSync, openSync, readFileSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { UpstreamPlan } from './plan.js';
import { isRecordedAlive, procRecord, saveState, type LabState } from './state.js';

/** The lab's DNS domain (RFC 6761 reserves .test). */
export const LAB_DOMAIN = 'lab.test';

/** Pure: the address range dnsmasq hands out on a /24 whose gateway is `gateway` (.100 to .199). */
export function dhcpRange(gateway: string): { first: string; last: string } {
  const net = gateway.split('.').slice(0, 3).join('.');
  return { first: `${net}.100`, last: `${net}.199` };
}

/** Pure: dnsmasq's argv for the upstream's interfaces. */
export function dnsmasqArgv(up: UpstreamPlan, dir: string): string[] {
  const argv = ['dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--no-hosts', '--no-resolv',
    '--bind-interfaces', '--except-interface=lo', '--dhcp-authoritative', '--log-dhcp', '--user=root', '--group=root',
    `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`, `--log-facility=${join(dir, 'dnsmasq.log')}`];
  for (const i of up.ifaces) {
    if (i.prefixLen !== 24) throw new Error(`the lab's DHCP server serves /24 subnets only (${i.device})`);
    const tag = `vlan${i.vlan}`;
    const { first, last } = dhcpRange(i.address);
    argv.push(`--interface=${i.device}`, `--dhcp-range=set:${tag},${first},${last},255.255.255.0,1h`,
      `--dhcp-option=tag:${tag},option:router,${i.address}`, `--dhcp-option=tag:${tag},option:dns-server,${i.address}`,
      `--dhcp-option=tag:${tag},option:domain-name,${LAB_DOMAIN}`);
  }
  return argv;
}

/** Starts dnsmasq in the upstream namespace unless the recorded one runs; recorded for `lab down`. */
export async function ensureDhcpServer(state: LabState, up: UpstreamPlan, progress: (l: string) => void): Promise<void> {
  const mine = state.processes.filter((p) => p.what === 'upstream dnsmasq');
  if (mine.length === 1 && isRecordedAlive(mine[0]!)) return;
  state.processes = state.processes.filter((p) => !mine.includes(p));
  const dir = join(state.dir, 'dhcp-server');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const log = join(dir, 'dnsmasq.log');
  const out = openSync(join(dir, 'dnsmasq.out'), 'a', 0o600);
  let pid: number | undefined;
  try {
    // nsenter execs: the recorded pid is dnsmasq's own (it stays in the foreground).
    const child = spawn('nsenter', [`--net=/run/netns/${up.ns}`, '--', ...dnsmasqArgv(up, dir)], { detached: true, stdio: ['ignore', out, out] });
    child.on('error', () => undefined);
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(out);
  }
  if (pid === undefined) throw new Error('cannot start dnsmasq');
  // Started once its DHCP sockets are bound: it says so in its log.
  const deadline = Date.now() + 10_000;
  while (!(existsSync(log) && /DHCP, IP range/.test(readFileSync(log, 'utf8')))) {
    const dead = readFileSync(join(dir, 'dnsmasq.out'), 'utf8');
    if (Date.now() > deadline || /dnsmasq: /.test(dead)) throw new Error(`dnsmasq did not start: ${dead.trim() || `see ${log}`}`);
    await sleep(50);
  }
  state.processes.push(procRecord(pid, 'upstream dnsmasq', up.ns));
  saveState(state);
  progress(`upstream: DHCP server (dnsmasq, pid ${pid}) on ${up.ifaces.map((i) => `VLAN ${i.vlan} ${dhcpRange(i.address).first}-${dhcpRange(i.address).last}`).join(', ')}`);
}
