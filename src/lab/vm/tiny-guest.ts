// A tiny QEMU guest (TCG) of a lab host, for the hypervisor path of guests (docs/guests.md):
// Debian's kernel and an initramfs of busybox alone, one virtio NIC whose tap QEMU creates in
// the lab host's namespace and hands to `script=` / `downscript=` (xcpnet vif-hotplug). The
// guest sets its address, pings a target a counted number of times, prints the summary on its
// serial console, and powers off after a bounded life. No 9p root, no control channel: it boots
// in seconds where the VM tier's guests take a minute.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseIPv4, parseIPv4Cidr } from '../../common/net-syntax.js';
import { killProcesses } from '../ovs.js';
import { isRecordedAlive, loadState, procRecord, saveState, type ProcRecord } from '../state.js';
import { buildCpio } from './cpio.js';
import { busyboxAndModules, shq } from './initramfs.js';
import { BUSYBOX, findGuestKernel, type GuestKernel } from './kernel.js';
import { QEMU } from './qemu.js';
import { spawnQemuIn } from './launch.js';

export const TINY_MODULES = ['virtio_pci', 'virtio_net'];

export interface TinyGuestPlan {
  name: string;
  /** The lab's prefix: the tap must carry it. */
  prefix: string;
  tap: string;
  mac: string;
  kernel: string;
  initrd: string;
  /** QEMU's script= and downscript= (absolute paths; QEMU runs them with the tap's name). */
  upScript: string;
  downScript: string;
  consoleLog: string;
  pidfile: string;
  memoryMb: number;
}

const MAC = /^52:54:00(:[0-9a-f]{2}){3}$/;

/** Pure: QEMU's argv. The only network is the tap (no user-mode NAT, no default NIC). */
export function tinyGuestArgv(p: TinyGuestPlan): string[] {
  if (!p.tap.startsWith(p.prefix) || !/^[A-Za-z0-9_.-]{1,15}$/.test(p.tap)) throw new Error(`tap ${p.tap} is not a lab tap (prefix ${p.prefix}, ≤ 15 chars)`);
  if (!MAC.test(p.mac)) throw new Error(`guest MAC must be a locally administered 52:54:00:xx:xx:xx address: ${p.mac}`);
  for (const path of [p.kernel, p.initrd, p.upScript, p.downScript, p.consoleLog, p.pidfile]) {
    if (path.includes(',') || !path.startsWith('/')) throw new Error(`path must be absolute and have no comma: ${path}`);
  }
  if (!/^[A-Za-z0-9_-]+$/.test(p.name) || !Number.isInteger(p.memoryMb) || p.memoryMb < 64) throw new Error('bad guest name or memory');
  return [
    QEMU, '-name', p.name, '-nodefaults', '-no-user-config', '-display', 'none',
    '-machine', 'pc', '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', String(p.memoryMb),
    '-kernel', p.kernel, '-initrd', p.initrd, '-append', 'console=ttyS0 panic=-1 loglevel=3 mitigations=off',
    '-no-reboot', '-serial', `file:${p.consoleLog}`,
    '-netdev', `tap,id=n0,ifname=${p.tap},script=${p.upScript},downscript=${p.downScript}`,
    // csum=off: the guest computes its own checksums (the lab's userspace switches forward frames as read).
    '-device', `virtio-net-pci,netdev=n0,mac=${p.mac},romfile=,csum=off,guest_csum=off`,
    '-pidfile', p.pidfile,
  ];
}

export interface TinyInit {
  /** The guest's eth0 address, CIDR. */
  address: string;
  /** Pinged `count` times once the NIC is up; the summary goes to the console. */
  ping: { target: string; count: number };
  /** The guest powers off after this many seconds (a bound on its life). */
  lifetimeS: number;
}

/** Pure: /init (busybox sh), given the module files in load order. */
export function tinyInitScript(i: TinyInit, moduleFiles: string[]): string {
  if (!parseIPv4Cidr(i.address) || !parseIPv4(i.ping.target)) throw new Error(`bad guest address ${i.address} or target ${i.ping.target}`);
  for (const n of [i.ping.count, i.lifetimeS]) if (!Number.isInteger(n) || n < 1 || n > 3600) throw new Error(`bad count or lifetime ${n}`);
  return `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /bin
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in ${moduleFiles.map(shq).join(' ')}; do insmod "/modules/$m" || echo "xcpnet-tiny: insmod $m failed"; done
ip link set lo up
ip link set eth0 up
ip addr add ${i.address} dev eth0
echo "xcpnet-tiny: up"
ping -c ${i.ping.count} -W 2 -w ${i.ping.count * 2 + 20} ${i.ping.target} > /ping.out 2>&1
echo "xcpnet-tiny: ping $(grep 'packets transmitted' /ping.out)"
echo "xcpnet-tiny: ready"
sleep ${i.lifetimeS}
poweroff -f
`;
}

export function buildTinyInitramfs(kernel: GuestKernel, init: TinyInit, busybox = BUSYBOX): Buffer {
  const { entries, files } = busyboxAndModules(kernel.modulesDir, TINY_MODULES, busybox);
  return buildCpio([...entries, { kind: 'file', name: 'init', data: tinyInitScript(init, files), mode: 0o755 }]);
}

export interface TinyGuest {
  proc: ProcRecord;
  readonly alive: boolean;
  console(): string;
  /** SIGTERM (QEMU runs the downscript as it exits), SIGKILL after a bounded wait. */
  stop(): Promise<void>;
}

/**
 * Starts QEMU in the lab host's namespace (where the tap appears and the scripts run). QEMU runs
 * script= before the guest boots and fails to start when it fails: the error names its output.
 * The process is recorded in the lab's state at once, so `lab down` stops it whatever happens.
 */
export async function startTinyGuest(o: {
  labDir: string; netns: string; dir: string; plan: Omit<TinyGuestPlan, 'kernel' | 'initrd' | 'consoleLog' | 'pidfile' | 'memoryMb'>;
  init: TinyInit; kernel?: GuestKernel;
}): Promise<TinyGuest> {
  const kernel = o.kernel ?? findGuestKernel();
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const file = (n: string) => join(o.dir, n);
  rmSync(file('console.log'), { force: true });
  writeFileSync(file('initramfs.cpio'), buildTinyInitramfs(kernel, o.init));
  const argv = tinyGuestArgv({ ...o.plan, kernel: kernel.vmlinuz, initrd: file('initramfs.cpio'), consoleLog: file('console.log'), pidfile: file('qemu.pid'), memoryMb: 192 });
  const pid = spawnQemuIn(o.netns, argv, file('qemu.log'), o.plan.name);
  const proc = procRecord(pid, `${o.plan.name} qemu`, o.netns);
  const state = loadState(o.labDir);
  if (state) { state.processes.push(proc); saveState(state); }
  const read = (n: string) => (existsSync(file(n)) ? readFileSync(file(n), 'utf8') : '');
  return {
    proc,
    get alive() { return isRecordedAlive(proc); },
    console: () => `${read('console.log')}${read('qemu.log') ? `\n--- qemu:\n${read('qemu.log')}` : ''}`,
    stop: () => killProcesses([proc], 20_000),
  };
}
