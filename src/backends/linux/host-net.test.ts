// Pure parts of what the agent does to a real host's network besides the switch: DHCP leases,
// the resolver file, the distribution's claims on NICs.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { HOOK_SCRIPT, leaseValid, parseLease, udhcpcArgv } from './dhcp.js';
import { ResolverFile, resolvConf, resolverPath } from './resolver.js';
import { claimMessage, distroClaims, ifupdownClaims, parseInterfaces, parseNetworkdLink, parseNmcliDevices } from './distro.js';

test('parseLease: the first line of each key counts; bad values are dropped, a bad address is no lease', () => {
  const l = parseLease('ip=192.0.2.150\nmask=24\nrouter=192.0.2.1 192.0.2.2\ndns=192.0.2.1 2001:db8::53 bad\nlease=600\ndomain=lab.test bad_name\nip=10.9.9.9\n', 5000);
  assert.deepEqual(l, { ip: '192.0.2.150', prefix: 24, router: '192.0.2.1', dns: ['192.0.2.1', '2001:db8::53'], search: ['lab.test'], at: 5000, seconds: 600 });
  assert.equal(leaseValid(l!, 5000 + 599_000), true);
  assert.equal(leaseValid(l!, 5000 + 600_000), false);
  assert.equal(parseLease('ip=192.0.2.150 dev lo\nmask=24\n', 0), undefined);
  assert.equal(parseLease('ip=192.0.2.150\nmask=33\n', 0), undefined);
  assert.equal(parseLease('', 0), undefined);
  // A domain line cannot smuggle a second address in: ip came first.
  assert.equal(parseLease('ip=192.0.2.150\nmask=24\nrouter=\ndns=\nlease=60\ndomain=x\nip=198.51.100.1\n', 0)?.ip, '192.0.2.150');
});

test('udhcpc: argv only, in the foreground, releasing on exit, asking for the last address again', () => {
  assert.deepEqual(udhcpcArgv('/bin/busybox', 'xenbr0', '/var/lib/xcpnet/dhcp', '192.0.2.150'), [
    '/bin/busybox', 'udhcpc', '-f', '-R', '-i', 'xenbr0', '-s', '/var/lib/xcpnet/dhcp/udhcpc-hook', '-p', '/var/lib/xcpnet/dhcp/xenbr0.pid',
    '-t', '3', '-T', '2', '-A', '10', '-r', '192.0.2.150']);
  assert.deepEqual(udhcpcArgv('/bin/busybox', 'xenbr0', '/d').slice(-2), ['-A', '10']);
  assert.throws(() => udhcpcArgv('/bin/busybox', '-s/tmp/x', '/d'), /invalid interface name/);
});

test('the udhcpc hook writes the lease atomically for bound and renew, forgets it on nak, ignores the rest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-dhcp-'));
  try {
    writeFileSync(join(dir, 'hook'), HOOK_SCRIPT, { mode: 0o700 });
    const run = (event: string, env: Record<string, string>) => execFileSync(join(dir, 'hook'), [event], { env: { PATH: '/usr/bin:/bin', XCPNET_DHCP_DIR: dir, interface: 'xenbr0', ...env } });
    run('deconfig', {});
    assert.throws(() => readFileSync(join(dir, 'xenbr0.lease')), /ENOENT/);
    run('bound', { ip: '192.0.2.150', mask: '24', router: '192.0.2.1', dns: '192.0.2.1', lease: '3600', domain: 'lab.test\nip=10.0.0.1' });
    const l = parseLease(readFileSync(join(dir, 'xenbr0.lease'), 'utf8'), 0);
    assert.equal(l?.ip, '192.0.2.150');
    assert.deepEqual(l?.search, ['lab.test']);
    run('nak', {});
    assert.throws(() => readFileSync(join(dir, 'xenbr0.lease')), /ENOENT/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('resolv.conf: search then nameservers, at most 3; nothing when there is nothing to say; a symlink is left alone', () => {
  assert.equal(resolvConf({ servers: ['192.0.2.1', '2001:db8::53', '192.0.2.2', '192.0.2.3'], search: ['lab.test'] }),
    "# Written by the xcpnet agent from the management interface's DNS.\nsearch lab.test\nnameserver 192.0.2.1\nnameserver 2001:db8::53\nnameserver 192.0.2.2\n");
  assert.equal(resolvConf({ servers: ['not an address'], search: [] }), undefined);
  assert.equal(resolverPath(), '/etc/resolv.conf');
  assert.equal(resolverPath('xlab-host1'), '/etc/netns/xlab-host1/resolv.conf');
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-resolv-'));
  try {
    const logs: string[] = [];
    const f = new ResolverFile(join(dir, 'ns', 'resolv.conf'), (m) => logs.push(m));
    assert.equal(f.write({ servers: ['192.0.2.1'], search: [] }), true);
    assert.equal(f.write({ servers: ['192.0.2.1'], search: [] }), false, 'unchanged: not written again');
    assert.match(readFileSync(join(dir, 'ns', 'resolv.conf'), 'utf8'), /^nameserver 192\.0\.2\.1$/m);
    writeFileSync(join(dir, 'stub'), 'nameserver 127.0.0.53\n');
    symlinkSync(join(dir, 'stub'), join(dir, 'resolv.conf'));
    assert.equal(new ResolverFile(join(dir, 'resolv.conf'), (m) => logs.push(m)).write({ servers: ['192.0.2.1'], search: [] }), false);
    assert.equal(readFileSync(join(dir, 'stub'), 'utf8'), 'nameserver 127.0.0.53\n');
    assert.ok(logs.some((l) => /symbolic link/.test(l)));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('ifupdown: stanzas that configure a NIC are claims; manual without commands and other NICs are not', async () => {
  const p = parseInterfaces('auto lo\niface lo inet loopback\n\nallow-hotplug ens5\niface ens5 inet dhcp\n\niface ens6 inet manual\n\niface ens7 inet manual\n  up ip link set ens7 up\nsource /etc/network/interfaces.d/*\n', '/etc/network/interfaces');
  assert.deepEqual(p.stanzas.map((s) => [s.iface, s.method, s.hooks, s.line]), [['lo', 'loopback', false, 2], ['ens5', 'dhcp', false, 5], ['ens6', 'manual', false, 7], ['ens7', 'manual', true, 9]]);
  assert.deepEqual(p.sources, ['/etc/network/interfaces.d/*']);
  const root = mkdtempSync(join(tmpdir(), 'xcpnet-distro-'));
  try {
    mkdirSync(join(root, 'etc/network/interfaces.d'), { recursive: true });
    writeFileSync(join(root, 'etc/network/interfaces'), 'source /etc/network/interfaces.d/*\niface eth9 inet manual\n');
    writeFileSync(join(root, 'etc/network/interfaces.d/eth0'), '# the installer\nauto eth0\niface eth0 inet static\n  address 192.0.2.51/24\n');
    assert.deepEqual([...(await distroClaims(['eth0', 'eth1'], root)).keys()], ['eth0']);
    const claims = ifupdownClaims(root, ['eth0', 'eth1', 'eth9']);
    assert.equal(claims.length, 1);
    assert.equal(claims[0]!.nic, 'eth0');
    assert.equal(claims[0]!.where, '/etc/network/interfaces.d/eth0:3: iface eth0 … static');
    assert.match(claimMessage(claims[0]!), /^eth0 is configured by ifupdown \(\/etc\/network\/interfaces\.d\/eth0:3.*Hand it over: delete \(or comment out\) the "iface eth0" stanza.*do not run ifdown eth0/);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('systemd-networkd and NetworkManager states', async () => {
  assert.deepEqual(parseNetworkdLink('# This is private data. Do not parse.\nADMIN_STATE=configured\nOPER_STATE=routable\nNETWORK_FILE=/etc/systemd/network/20-wired.network\n'),
    { adminState: 'configured', networkFile: '/etc/systemd/network/20-wired.network' });
  assert.deepEqual([...parseNmcliDevices('ens5:connected\nens6:unmanaged\nlo:unmanaged (externally)\n')], [['ens5', 'connected'], ['ens6', 'unmanaged'], ['lo', 'unmanaged (externally)']]);
  const root = mkdtempSync(join(tmpdir(), 'xcpnet-distro-'));
  try {
    mkdirSync(join(root, 'run/systemd/netif/links'), { recursive: true });
    mkdirSync(join(root, 'sys/class/net/ens5'), { recursive: true });
    mkdirSync(join(root, 'sys/class/net/ens6'), { recursive: true });
    writeFileSync(join(root, 'sys/class/net/ens5/ifindex'), '2\n');
    writeFileSync(join(root, 'sys/class/net/ens6/ifindex'), '3\n');
    writeFileSync(join(root, 'run/systemd/netif/links/2'), 'ADMIN_STATE=configured\nNETWORK_FILE=/etc/systemd/network/20-wired.network\n');
    writeFileSync(join(root, 'run/systemd/netif/links/3'), 'ADMIN_STATE=unmanaged\n');
    const claims = await distroClaims(['ens5', 'ens6'], root);
    assert.deepEqual([...claims.keys()], ['ens5']);
    assert.match(claimMessage(claims.get('ens5')!), /systemd-networkd \(\/etc\/systemd\/network\/20-wired\.network.*Unmanaged=yes.*networkctl reload/);
  } finally { rmSync(root, { recursive: true, force: true }); }
});
