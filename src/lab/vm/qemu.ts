// The QEMU command line of a lab VM, planned without I/O. The safety rules live here: the
// VM gets no network but the taps named (no user-mode "slirp" NAT, no default NIC, no bridge
// helper), every tap carries the lab's prefix, and the machine's root is shared read-only.

export interface QemuNic {
  /** netdev id inside QEMU (also what QMP set_link names). */
  id: string;
  /** An existing tap in the namespace QEMU runs in. */
  tap: string;
  mac: string;
}

export interface QemuPlanInput {
  /** -name; also in the process list. */
  name: string;
  /** Every tap must start with it (the lab's prefix). */
  prefix: string;
  kernel: string;
  initrd: string;
  append: string;
  memoryMb: number;
  cpus: number;
  /** 9p tag under which the machine's root (read-only) is offered. */
  rootTag: string;
  nics: QemuNic[];
  /** virtio-serial port name of the control channel and the unix socket QEMU serves it on. */
  controlPort: string;
  controlSocket: string;
  qmpSocket: string;
  consoleLog: string;
  pidfile: string;
}

export const QEMU = 'qemu-system-x86_64';

const MAC = /^52:54:00(:[0-9a-f]{2}){3}$/;

export function qemuArgv(p: QemuPlanInput): string[] {
  if (!/^[a-z0-9]+$/.test(p.prefix.replace(/-$/, ''))) throw new Error(`bad lab prefix ${p.prefix}`);
  const ids = new Set<string>();
  for (const n of p.nics) {
    if (!n.tap.startsWith(p.prefix) || n.tap.length > 15 || !/^[A-Za-z0-9_.-]+$/.test(n.tap)) throw new Error(`VM NIC ${n.tap} is not a lab tap (prefix ${p.prefix}, ≤ 15 chars)`);
    if (!/^[a-z][a-z0-9]*$/.test(n.id) || ids.has(n.id)) throw new Error(`bad or duplicate VM NIC id ${n.id}`);
    if (!MAC.test(n.mac)) throw new Error(`VM NIC MAC must be a locally administered 52:54:00:xx:xx:xx address: ${n.mac}`);
    ids.add(n.id);
  }
  // Option values are comma-separated lists in QEMU: a comma in a path would split it.
  for (const path of [p.kernel, p.initrd, p.controlSocket, p.qmpSocket, p.consoleLog, p.pidfile]) {
    if (path.includes(',') || !path.startsWith('/')) throw new Error(`VM path must be absolute and have no comma: ${path}`);
  }
  if (!/^[A-Za-z0-9_.]+$/.test(p.rootTag) || !/^[A-Za-z0-9_.]+$/.test(p.controlPort)) throw new Error('bad 9p tag or control port name');
  if (!Number.isInteger(p.memoryMb) || p.memoryMb < 256 || !Number.isInteger(p.cpus) || p.cpus < 1) throw new Error('bad VM memory or CPU count');
  return [
    QEMU, '-name', p.name,
    // Nothing QEMU would add by itself: no default NIC (user-mode networking), no VGA, no floppy.
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-machine', 'pc', '-accel', 'tcg', '-cpu', 'max', '-smp', String(p.cpus), '-m', String(p.memoryMb),
    '-kernel', p.kernel, '-initrd', p.initrd, '-append', p.append,
    // A guest that powers off or panics (panic=-1 reboots) ends QEMU.
    '-no-reboot',
    '-chardev', `file,id=console,path=${p.consoleLog}`, '-serial', 'chardev:console',
    '-chardev', `socket,id=qmp,path=${p.qmpSocket},server=on,wait=off`, '-mon', 'chardev=qmp,mode=control',
    '-device', 'virtio-serial-pci,id=vser',
    '-chardev', `socket,id=ctl,path=${p.controlSocket},server=on,wait=off`,
    '-device', `virtserialport,bus=vser.0,chardev=ctl,name=${p.controlPort}`,
    '-fsdev', `local,id=root,path=/,security_model=none,readonly=on,multidevs=remap`,
    '-device', `virtio-9p-pci,fsdev=root,mount_tag=${p.rootTag}`,
    ...p.nics.flatMap((n) => [
      '-netdev', `tap,id=${n.id},ifname=${n.tap},script=no,downscript=no`,
      // romfile=: no iPXE boot ROM (the kernel is given directly; Debian ships the ROMs apart).
      // csum=off: the guest computes its own checksums. With offload, a frame leaves the tap
      // with its checksum left to do, and the lab switch (userspace, AF_PACKET) forwards it
      // as is: TCP to the master would be dropped as corrupt at the far end.
      '-device', `virtio-net-pci,netdev=${n.id},mac=${n.mac},romfile=,csum=off,guest_csum=off`,
    ]),
    '-pidfile', p.pidfile,
  ];
}

/** The kernel command line: serial console, no reboot loop on panic. */
export function kernelAppend(extra: string[] = []): string {
  return ['console=ttyS0', 'panic=-1', 'loglevel=4', 'mitigations=off', ...extra].join(' ');
}
