// The VM's initramfs: busybox, the few modules needed to reach the root, and two scripts.
// Stage 1 (/init, busybox sh) mounts the machine's root filesystem read-only over 9p with a
// tmpfs overlay on top, so the guest runs the machine's own programs (node, Open vSwitch,
// iproute2) and may write anywhere without changing the machine; then it hands over to
// busybox init. Stage 2 (busybox init's sysinit) mounts /proc, /sys, a fresh /run, loads the
// wanted modules and runs the caller's setup; init then keeps the control server running.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCpio, type CpioEntry } from './cpio.js';
import { loadOrder, readModuleIndex } from './modules.js';

/** Modules stage 1 needs before the root is there: virtio PCI, 9p over virtio, overlayfs. */
export const STAGE1_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

export interface GuestInit {
  hostname: string;
  /** 9p mount tag of the machine's root. */
  rootTag: string;
  /** The guest kernel's release and the (machine) path of its modules, also seen by the guest. */
  release: string;
  modulesDir: string;
  /** Module names stage 2 loads with modprobe (dependencies are found by modprobe). */
  modules: string[];
  /** Shell text run at the end of stage 2 (the caller's own setup, e.g. addresses). */
  setup: string;
  /** The control server: `node <script> <port name> <orphan seconds>`, respawned by init. */
  control: { node: string; script: string; port: string; orphanS: number };
}

/** Single-quoted for sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Names that reach a script, a path or a kernel command line unquoted anywhere. */
function assertPlain(what: string, v: string): void {
  if (!/^[A-Za-z0-9_./+-]+$/.test(v)) throw new Error(`VM ${what} must be letters, digits and _./+- only: ${JSON.stringify(v)}`);
}

/** Stage 1, given the module files in load order (as stored under /modules). */
export function stage1Script(g: GuestInit, moduleFiles: string[]): string {
  assertPlain('release', g.release);
  return `#!/bin/busybox sh
# xcpnet lab VM, stage 1 (initramfs): reach the root, hand over to init.
/bin/busybox mkdir -p /proc /sys /dev /lower /rw /newroot
/bin/busybox --install -s /bin
export PATH=/bin
die() { echo "xcpnet-vm: stage 1 failed: $*"; poweroff -f; }
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t devtmpfs devtmpfs /dev || die "mounting /proc /sys /dev"
echo "xcpnet-vm: stage 1 at $(cut -d' ' -f1 /proc/uptime)s"
for m in ${moduleFiles.map((f) => shq(f)).join(' ')}; do insmod "/modules/$m" || die "insmod $m"; done
# Read-only: the guest never writes to the machine. cache=loose: nothing under it changes while the VM runs.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 ${shq(g.rootTag)} /lower || die "mounting the 9p root"
mount -t tmpfs -o mode=755 tmpfs /rw && mkdir -p /rw/upper /rw/work || die "tmpfs for the overlay"
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || die "overlay root"
# The guest kernel's modules, where modprobe and the kernel's module autoloader look for them.
mkdir -p /newroot/lib/modules && rm -rf /newroot/lib/modules/${g.release} && ln -s ${shq(g.modulesDir)} /newroot/lib/modules/${g.release} || die "linking the modules"
mkdir -p /newroot/etc/xcpnet-vm && cp /stage2.sh /newroot/etc/xcpnet-vm/sysinit.sh && cp /inittab /newroot/etc/inittab || die "installing stage 2"
umount /proc /sys
mount --move /dev /newroot/dev || die "moving /dev"
exec switch_root /newroot /bin/busybox init
`;
}

/** Stage 2: busybox init's sysinit, run by the machine's /bin/sh inside the new root. */
export function stage2Script(g: GuestInit): string {
  assertPlain('hostname', g.hostname);
  for (const m of g.modules) assertPlain('module', m);
  return `#!/bin/sh
# xcpnet lab VM, stage 2 (sysinit): mounts, modules, then the caller's setup.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "xcpnet-vm: stage 2 at $(cut -d' ' -f1 /proc/uptime)s"
# A fresh /run: the machine's own (sockets, /run/netns) must not show through.
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
hostname ${g.hostname}
ip link set lo up
for m in ${g.modules.join(' ')}; do modprobe "$m" || echo "xcpnet-vm: modprobe $m failed"; done
echo "xcpnet-vm: stage 2 setup at $(cut -d' ' -f1 /proc/uptime)s"
${g.setup}
echo "xcpnet-vm: stage 2 done at $(cut -d' ' -f1 /proc/uptime)s"
`;
}

export function inittab(g: GuestInit): string {
  const ctl = [g.control.node, g.control.script, g.control.port, String(g.control.orphanS)];
  for (const p of ctl) assertPlain('control server path', p);
  return `::sysinit:/bin/sh /etc/xcpnet-vm/sysinit.sh
# The control server; a pause before a respawn so a failing one cannot spin.
::respawn:/bin/sh -c '${ctl.join(' ')}; sleep 1'
::ctrlaltdel:/bin/busybox poweroff -f
`;
}

/**
 * What every lab initramfs starts with: busybox, and the kernel modules `wanted` needs in load
 * order under modules/ (file names only, so they must be unique); `files` is that order.
 */
export function busyboxAndModules(modulesDir: string, wanted: string[], busybox: string): { entries: CpioEntry[]; files: string[] } {
  const order = loadOrder(readModuleIndex(modulesDir), wanted);
  const files = order.map((p) => p.slice(p.lastIndexOf('/') + 1));
  if (new Set(files).size !== files.length) throw new Error(`two initramfs modules share a file name: ${files.join(' ')}`);
  const entries: CpioEntry[] = [
    { kind: 'dir', name: 'bin' },
    { kind: 'file', name: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 },
    { kind: 'dir', name: 'modules' },
    ...order.map((p, i): CpioEntry => ({ kind: 'file', name: `modules/${files[i]!}`, data: readFileSync(join(modulesDir, p)) })),
  ];
  return { entries, files };
}

/** The whole initramfs (an uncompressed newc cpio, which the kernel takes as is). */
export function buildInitramfs(g: GuestInit, busybox: string): Buffer {
  const { entries, files } = busyboxAndModules(g.modulesDir, STAGE1_MODULES, busybox);
  return buildCpio([
    ...entries,
    { kind: 'file', name: 'init', data: stage1Script(g, files), mode: 0o755 },
    { kind: 'file', name: 'stage2.sh', data: stage2Script(g), mode: 0o755 },
    { kind: 'file', name: 'inittab', data: inittab(g) },
  ]);
}
