// Helpers for the lab's end-to-end tests: a fresh lab per scenario with a unique name, `xe`
// pointed at it, bounded pings in guests and hosts, and a teardown that always runs.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { labUp, labDown, labExec, labEnv, type LabState } from './index.js';
import { xeOnHost } from './pool.js';
import { findHost } from './topology.js';

const XE_JS = fileURLToPath(new URL('../bin/xe.js', import.meta.url));
const XCPNET_JS = fileURLToPath(new URL('../bin/xcpnet.js', import.meta.url));
let counter = 0;

export interface TestLab {
  name: string;
  stateDir: string;
  state: LabState;
  /** Runs `xe ARGS` against the lab's master; resolves with trimmed stdout, rejects on failure. */
  xe(...args: string[]): Promise<string>;
  /** Runs a command in a host or a running VM; never throws on a non-zero exit. */
  exec(target: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Bounded ping: `count` packets, 1 s each; true when at least one reply came. */
  ping(target: string, addr: string, opts?: { count?: number; size?: number; df?: boolean }): Promise<boolean>;
  /** Retries a bounded ping a few times (paths that need ARP or a reconcile first). */
  pingSoon(target: string, addr: string, tries?: number): Promise<boolean>;
  down(): Promise<void>;
}

export function canRunLab(): string | false {
  // In CI the lab must run: a skipped system test would hide a broken build.
  if (process.getuid?.() !== 0 && !process.env.CI) return 'needs root';
  return false;
}

export interface LabSize { hosts?: number; nics?: number; backend?: 'openvswitch' | 'bridge'; standalone?: boolean; sdn?: 'mesh' | 'ovn'; ovnCluster?: 1 | 3; services?: boolean }

export async function freshLab(tag: string, size: LabSize = {}): Promise<TestLab> {
  const name = `${tag}${process.pid % 100000}${counter++}`;
  const stateDir = mkdtempSync('/tmp/xcpt-lab-');
  const opts = { name, stateDir, progress: () => undefined };
  let state: LabState;
  try {
    state = await labUp({ ...opts, hosts: size.hosts ?? 2, nics: size.nics ?? 4, backend: size.backend, standalone: size.standalone, sdn: size.sdn, ovnCluster: size.ovnCluster, services: size.services });
  } catch (e) {
    await labDown(opts).catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
    throw e;
  }
  // What `eval "$(xcpnet lab env)"` gives a user's shell (it reads the password from its file).
  const shown = execFileSync('/bin/sh', ['-c', `${labEnv(opts)}exec env -0`], { encoding: 'utf8' });
  const env: NodeJS.ProcessEnv = Object.fromEntries(shown.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const exec = (target: string, ...argv: string[]) => labExec({ ...opts, target, argv, capture: true, timeoutMs: 30_000 });
  const ping = async (target: string, addr: string, o: { count?: number; size?: number; df?: boolean } = {}) => {
    const argv = ['ping', '-c', String(o.count ?? 2), '-W', '1', '-w', String((o.count ?? 2) + 2)];
    if (o.size !== undefined) argv.push('-s', String(o.size));
    if (o.df) argv.push('-M', 'do');
    return (await exec(target, ...argv, addr)).code === 0;
  };
  return {
    name, stateDir, state,
    xe: (...args: string[]) => new Promise((resolve, reject) => {
      execFile(process.execPath, [XE_JS, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`xe ${args.join(' ')}: ${String(stderr).trim() || String(stdout).trim() || err.message}`));
        else resolve(String(stdout).trim());
      });
    }),
    exec, ping,
    pingSoon: async (target, addr, tries = 5) => {
      for (let i = 0; i < tries; i++) if ((await exec(target, 'ping', '-c', '1', '-W', '1', addr)).code === 0) return true;
      return false;
    },
    down: async () => {
      await labDown(opts).catch(() => undefined);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * For a test file: a function that makes a fresh lab (as freshLab) and records it, and an
 * `after` hook that takes every recorded lab down, also those of tests that failed midway.
 * Call it at the top level of the file.
 */
export function labsOfThisFile(): (tag: string, size?: LabSize) => Promise<TestLab> {
  const labs: TestLab[] = [];
  after(async () => { for (const l of labs) await l.down(); });
  return async (tag, size) => {
    const l = await freshLab(tag, size);
    labs.push(l);
    return l;
  };
}

/** Creates a halted VM with one VIF (device 0) on the network; returns the VM's uuid. */
export async function makeVm(lab: TestLab, name: string, networkUuid: string, device = '0'): Promise<string> {
  const vm = await lab.xe('vm-create', `name-label=${name}`);
  await lab.xe('vif-create', `vm-uuid=${vm}`, `network-uuid=${networkUuid}`, `device=${device}`);
  return vm;
}

/** Starts a VM on a host and gives its eth0 an address, as the guest's administrator would. */
export async function startVm(lab: TestLab, vm: string, host: string, cidr?: string): Promise<void> {
  await lab.xe('vm-start', `uuid=${vm}`, `on=${host}`);
  if (cidr) {
    const r = await lab.exec(vm, 'ip', 'addr', 'add', cidr, 'dev', 'eth0');
    if (r.code !== 0) throw new Error(`address ${cidr} in ${vm}: ${r.stderr}`);
  }
}

/** The network uuid of a host's PIF by device (eth0…). */
export async function pifNetwork(lab: TestLab, host: string, device: string): Promise<string> {
  return lab.xe('pif-list', `host-name-label=${host}`, `device=${device}`, 'VLAN=-1', 'params=network-uuid', '--minimal');
}

export async function pifUuid(lab: TestLab, host: string, device: string, vlan = -1): Promise<string> {
  return lab.xe('pif-list', `host-name-label=${host}`, `device=${device}`, `VLAN=${vlan}`, 'params=uuid', '--minimal');
}

/** `_uuid name` of every row of Bridge, Port and Interface in a host's OVSDB, sorted. */
export async function ovsRows(l: TestLab, host: string): Promise<string[]> {
  const out: string[] = [];
  for (const table of ['Bridge', 'Port', 'Interface']) {
    const r = await l.exec(host, 'ovs-vsctl', '--format=csv', '--no-headings', '--columns=_uuid,name', 'list', table);
    assert.equal(r.code, 0, r.stderr);
    out.push(...r.stdout.trim().split('\n').filter(Boolean).map((line) => `${table} ${line}`));
  }
  return out.sort();
}

/** Open_vSwitch.next_cfg: every agent transaction bumps it, so it counts writes. */
export async function nextCfg(l: TestLab, host: string): Promise<string> {
  return (await l.exec(host, 'ovs-vsctl', 'get', 'Open_vSwitch', '.', 'next_cfg')).stdout.trim();
}


/** `xcpnet lab ARGS` on a test lab, as an operator runs it (join, eject, restart-agent …). */
export function labCli(l: TestLab, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [XCPNET_JS, 'lab', ...args, '--name', l.name, '--state-dir', l.stateDir], { timeout: 120_000 },
      (err, stdout, stderr) => err ? reject(new Error(`lab ${args.join(' ')}: ${String(stderr).trim() || err.message}`)) : resolve(String(stdout)));
  });
}

/** `xe ARGS` on a host of a test lab, against its own serve's local socket. */
export async function xeOn(l: TestLab, host: string, ...args: string[]): Promise<{ code: number; out: string }> {
  const r = await xeOnHost(l.state, findHost(l.state, host), args);
  return { code: r.code, out: `${r.stdout}${r.stderr}`.trim() };
}
