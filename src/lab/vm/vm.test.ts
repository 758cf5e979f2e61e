// The VM tier's pure parts: the cpio writer, module ordering, the QEMU command line (and its
// safety rules), the guest's scripts, the control protocol's framing, the NIC plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCpio } from './cpio.js';
import { loadOrder, moduleName, parseModuleIndex } from './modules.js';
import { qemuArgv, type QemuPlanInput } from './qemu.js';
import { inittab, shq, stage1Script, stage2Script, type GuestInit } from './initramfs.js';
import { LineSplitter } from './protocol.js';
import { vmNics } from './host.js';

/** One newc header, spelled out field by field as the format defines it. */
const header = (f: { ino: number; mode: number; nlink: number; size: number; namesize: number }): string =>
  '070701' + [f.ino, f.mode, 0, 0, f.nlink, 0, f.size, 0, 0, 0, 0, f.namesize, 0].map((n) => n.toString(16).padStart(8, '0')).join('');

test('cpio: newc headers, names and data padded to 4 bytes, a trailer', () => {
  const a = buildCpio([
    { kind: 'dir', name: 'bin' },
    { kind: 'file', name: 'bin/x', data: 'hello', mode: 0o755 },
    { kind: 'symlink', name: 'sh', target: 'bin/x' },
  ]);
  const expected = Buffer.concat([
    // 110-byte header + "bin\0" = 114 → 2 bytes of padding
    Buffer.from(header({ ino: 1, mode: 0o040755, nlink: 2, size: 0, namesize: 4 }) + 'bin\0' + '\0\0'),
    // 110 + "bin/x\0" = 116 → none; data 5 → 3 bytes of padding
    Buffer.from(header({ ino: 2, mode: 0o100755, nlink: 1, size: 5, namesize: 6 }) + 'bin/x\0' + 'hello\0\0\0'),
    // 110 + "sh\0" = 113 → 3; the link target is the data: 5 → 3
    Buffer.from(header({ ino: 3, mode: 0o120777, nlink: 1, size: 5, namesize: 3 }) + 'sh\0' + '\0\0\0' + 'bin/x\0\0\0'),
    // 110 + "TRAILER!!!\0" = 121 → 3
    Buffer.from(header({ ino: 0, mode: 0, nlink: 1, size: 0, namesize: 11 }) + 'TRAILER!!!\0' + '\0\0\0'),
  ]);
  assert.equal(a.toString('latin1'), expected.toString('latin1'));
  assert.equal(a.length % 4, 0);
});

test('cpio: bad or duplicate names are refused', () => {
  for (const name of ['/abs', '../up', 'a/../b', '', 'nul\0']) {
    assert.throws(() => buildCpio([{ kind: 'dir', name }]), /bad entry name/, name);
  }
  assert.throws(() => buildCpio([{ kind: 'dir', name: 'a' }, { kind: 'dir', name: 'a' }]), /duplicate/);
});

const DEP = `kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/net/net-failover.ko:
`;

test('modules: each module after everything it needs, each once; built-ins skipped; unknown names refused', () => {
  const idx = parseModuleIndex(DEP, 'kernel/fs/overlayfs/overlay.ko\n');
  const order = loadOrder(idx, ['9pnet_virtio', '9p', 'overlay']);
  assert.equal(new Set(order).size, order.length);
  assert.deepEqual(order.slice().sort(), ['kernel/drivers/virtio/virtio.ko', 'kernel/drivers/virtio/virtio_ring.ko', 'kernel/fs/9p/9p.ko',
    'kernel/fs/fscache/fscache.ko', 'kernel/fs/netfs/netfs.ko', 'kernel/net/9p/9pnet.ko', 'kernel/net/9p/9pnet_virtio.ko']);
  const at = (m: string): number => order.findIndex((p) => moduleName(p) === m);
  assert.ok(at('9pnet') < at('9pnet_virtio') && at('virtio') < at('9pnet_virtio') && at('virtio_ring') < at('9pnet_virtio'));
  // fscache needs netfs: 9p's list names fscache first, the order must not follow the list.
  assert.ok(at('netfs') < at('fscache') && at('fscache') < at('9p'));
  assert.deepEqual(loadOrder(idx, ['net_failover']), ['kernel/drivers/net/net-failover.ko'], 'dashes and underscores alike');
  assert.throws(() => loadOrder(idx, ['openvswitch']), /neither a module nor built in/);
});

const plan = (over: Partial<QemuPlanInput> = {}): QemuPlanInput => ({
  name: 'vm1', prefix: 'xlt-', kernel: '/k/vmlinuz', initrd: '/d/initramfs.cpio', append: 'console=ttyS0',
  memoryMb: 1024, cpus: 2, rootTag: 'hostroot',
  nics: [{ id: 'n0', tap: 'xlt-q1e0', mac: '52:54:00:7a:01:00' }, { id: 'n1', tap: 'xlt-q1e1', mac: '52:54:00:7a:01:01' }],
  controlPort: 'xcpnet.ctl', controlSocket: '/d/ctl.sock', qmpSocket: '/d/qmp.sock', consoleLog: '/d/console.log', pidfile: '/d/qemu.pid',
  ...over,
});

test('qemu: the only network is the named taps; the root is shared read-only; TCG', () => {
  const argv = qemuArgv(plan());
  const values = (opt: string): string[] => argv.flatMap((a, i) => (a === opt ? [argv[i + 1]!] : []));
  assert.ok(argv.includes('-nodefaults'), 'no default NIC (user-mode networking) or other default device');
  assert.deepEqual(values('-netdev'), ['tap,id=n0,ifname=xlt-q1e0,script=no,downscript=no', 'tap,id=n1,ifname=xlt-q1e1,script=no,downscript=no']);
  assert.ok(!argv.some((a) => /(^|,)(user|bridge|socket|vde|l2tpv3|vhost-user)(,|$)|hostfwd|smb=/.test(a) && !a.startsWith('socket,id=qmp') && !a.startsWith('socket,id=ctl')), argv.join(' '));
  assert.ok(!argv.includes('-nic') && !argv.includes('-net'));
  assert.deepEqual(values('-fsdev'), ['local,id=root,path=/,security_model=none,readonly=on,multidevs=remap']);
  assert.deepEqual(values('-accel'), ['tcg']);
  assert.ok(argv.includes('-no-reboot'));
  assert.equal(values('-device').filter((d) => d.startsWith('virtio-net-pci')).length, 2);
});

test('qemu: taps outside the lab prefix, bad MACs, commas in paths are refused', () => {
  assert.throws(() => qemuArgv(plan({ nics: [{ id: 'n0', tap: 'eth0', mac: '52:54:00:00:00:01' }] })), /not a lab tap/);
  assert.throws(() => qemuArgv(plan({ nics: [{ id: 'n0', tap: 'xlt-q1e0,x=1', mac: '52:54:00:00:00:01' }] })), /not a lab tap/);
  assert.throws(() => qemuArgv(plan({ nics: [{ id: 'n0', tap: 'xlt-q1e0', mac: '00:11:22:33:44:55' }] })), /MAC/);
  assert.throws(() => qemuArgv(plan({ nics: [{ id: 'n0', tap: 'xlt-a', mac: '52:54:00:00:00:01' }, { id: 'n0', tap: 'xlt-b', mac: '52:54:00:00:00:02' }] })), /duplicate/);
  assert.throws(() => qemuArgv(plan({ initrd: '/d/a,b' })), /no comma/);
  assert.throws(() => qemuArgv(plan({ consoleLog: 'relative.log' })), /absolute/);
});

const guest: GuestInit = {
  hostname: 'vm1', rootTag: 'hostroot', release: '6.1.0-57-amd64', modulesDir: "/repo/it's/var/vm/kernel/lib/modules/6.1.0-57-amd64",
  modules: ['openvswitch', '8021q'], setup: 'ip link set eth0 up',
  control: { node: '/usr/bin/node', script: '/repo/dist/src/lab/vm/guest-control.js', port: 'xcpnet.ctl', orphanS: 15 },
};

test('guest scripts: stage 1 loads the modules in order and mounts the root read-only; stage 2 runs the setup', () => {
  const s1 = stage1Script(guest, ['virtio.ko', '9p.ko']);
  assert.match(s1, /for m in 'virtio\.ko' '9p\.ko'; do insmod/);
  assert.match(s1, /mount -t 9p -o trans=virtio,version=9p2000\.L,ro,/);
  assert.ok(s1.includes(`ln -s ${shq(guest.modulesDir)} /newroot/lib/modules/6.1.0-57-amd64`), 'a quote in the path stays quoted');
  const s2 = stage2Script(guest);
  assert.match(s2, /for m in openvswitch 8021q; do modprobe/);
  assert.match(s2, /mount -t tmpfs -o mode=755 tmpfs \/run/);
  assert.ok(s2.includes('\nip link set eth0 up\n'));
  assert.match(inittab(guest), /::respawn:\/bin\/sh -c '\/usr\/bin\/node \/repo\/dist\/src\/lab\/vm\/guest-control\.js xcpnet\.ctl 15; sleep 1'/);
  assert.throws(() => stage2Script({ ...guest, hostname: 'vm1; reboot' }), /hostname/);
  assert.throws(() => stage2Script({ ...guest, modules: ['a b'] }), /module/);
  assert.throws(() => stage1Script({ ...guest, release: '$(x)' }, []), /release/);
  assert.throws(() => inittab({ ...guest, control: { ...guest.control, script: "/a b/c'.js" } }), /control server path/);
});

test('control protocol: lines split across chunks are joined, empty lines dropped', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push('{"id":1}\n{"id"'), ['{"id":1}']);
  assert.deepEqual(s.push(':2}\n\n{"id":3}'), ['{"id":2}']);
  assert.deepEqual(s.push('\n'), ['{"id":3}']);
});

test('VM NICs: lab-prefixed taps, ethN in order, distinct locally administered MACs', () => {
  const nics = vmNics('xlvmk12-', 3, 4);
  assert.deepEqual(nics.map((n) => [n.device, n.id, n.tap, n.mac]), [
    ['eth0', 'n0', 'xlvmk12-q3e0', '52:54:00:7a:03:00'], ['eth1', 'n1', 'xlvmk12-q3e1', '52:54:00:7a:03:01'],
    ['eth2', 'n2', 'xlvmk12-q3e2', '52:54:00:7a:03:02'], ['eth3', 'n3', 'xlvmk12-q3e3', '52:54:00:7a:03:03'],
  ]);
  assert.throws(() => vmNics('xl0abcd-', 100, 101), /interface name too long/);
  assert.throws(() => vmNics('xlt-', 256, 1), /out of range/);
});
