// Values that reach a host are checked on every path that writes them (create, set, add), and a
// constructor cannot give a field a value that the caller's role could not set through the
// field's setter. Each refused call changes nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { XapiClient } from '../../src/client/index.js';
import { CLASSES, zeroOf, type Field, type Value } from '../../src/idl/index.js';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';
import { ensureAgent } from '../support/rule-kit.js';

type R = Record<string, any>;

/** Flow syntax and other things a value must never smuggle to a host. */
const HOSTILE = ['10.0.0.1\nin_port=1,actions=drop', '10.0.0.1,actions=drop', '10.0.0.1 actions=drop', 'nw_src=10.0.0.1',
  '10.0.0.1;actions=normal', '', ' 10.0.0.1', '10.0.0.1\n', '10.0.0.256', '10.0.0.1/33', '1.2.3', '::1', '0x0a000001'];
const HOSTILE_V6 = ['fe80::1\nin_port=1,actions=drop', 'fe80::1,actions=drop', 'fe80::1 ', 'fe80::1%eth0', '1.2.3.4', 'fe80::1/129',
  '1:2:3:4:5:6:7:8:9', 'g::1', ''];
const BAD_IFNAMES = ['a b', 'a\nb', '-x', '--help', '.', '..', 'a/b', '../../x', 'a:b', 'tab\there', 'nul\u0000', 'sixteen-chars-xx', ''];

describe('values that reach a host', () => {
  let pool: TestPool;
  let vmAdmin: XapiClient;
  const call = <T = any>(m: string, ...a: unknown[]) => pool.call<T>(m, ...a);
  const count = async (cls: string) => (await call<string[]>(`${cls}.get_all`)).length;
  const net = (extra: R = {}) => call<string>('network.create', { name_label: 'n', other_config: {}, ...extra });
  const vm = () => call<string>('VM.create', { name_label: 'vm', other_config: {} });
  const vifArgs = (vmRef: string, netRef: string, extra: R = {}): R => ({
    device: '0', network: netRef, VM: vmRef, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {}, ...extra,
  });
  /** Asserts the call fails as given and that no object of `cls` appeared. */
  async function refusedNothingMade(cls: string, p: () => Promise<unknown>, code: string, params?: unknown[]) {
    const n = await count(cls);
    await assertApiError(p(), code, params);
    assert.equal(await count(cls), n, `no ${cls} was created`);
  }

  before(async () => {
    pool = await startTestPool({ fakeNics: 4 });
    await ensureAgent(pool);
    pool.master.server.users.set('vmadmin', 'vmadmin-pw', 'vm-admin');
    vmAdmin = await XapiClient.connect({ target: pool.url, user: 'vmadmin', password: 'vmadmin-pw' });
  });
  after(async () => { await vmAdmin.close(); await pool.close(); });

  test('VIF.create refuses flow syntax in ipv4_allowed/ipv6_allowed and creates nothing', async () => {
    const [n, m] = [await net(), await vm()];
    for (const bad of HOSTILE) {
      await refusedNothingMade('VIF', () => call('VIF.create', vifArgs(m, n, { ipv4_allowed: ['10.0.0.2', bad] })),
        'INVALID_IP_ADDRESS_SPECIFIED', ['ipv4_allowed']);
    }
    for (const bad of HOSTILE_V6) {
      await refusedNothingMade('VIF', () => call('VIF.create', vifArgs(m, n, { ipv6_allowed: [bad] })), 'INVALID_IP_ADDRESS_SPECIFIED', ['ipv6_allowed']);
    }
    assert.deepEqual((await call<R>('VM.get_record', m)).VIFs, []);
    // good values of both forms are kept as given
    const v = await call<string>('VIF.create', vifArgs(m, n, { ipv4_allowed: ['10.0.0.2', '10.1.0.0/16'], ipv6_allowed: ['fe80::1', '2001:db8::/32'] }));
    const r = await call<R>('VIF.get_record', v);
    assert.deepEqual([r.ipv4_allowed, r.ipv6_allowed], [['10.0.0.2', '10.1.0.0/16'], ['fe80::1', '2001:db8::/32']]);
  });

  test('VIF.set_/add_ipv4_allowed and ipv6 refuse the same values and change nothing', async () => {
    const [n, m] = [await net(), await vm()];
    const v = await call<string>('VIF.create', vifArgs(m, n, { ipv4_allowed: ['10.0.0.2'] }));
    for (const bad of HOSTILE) {
      await assertApiError(call('VIF.set_ipv4_allowed', v, [bad]), 'INVALID_IP_ADDRESS_SPECIFIED', ['ipv4_allowed']);
      await assertApiError(call('VIF.add_ipv4_allowed', v, bad), 'INVALID_IP_ADDRESS_SPECIFIED', ['ipv4_allowed']);
    }
    for (const bad of HOSTILE_V6) {
      await assertApiError(call('VIF.set_ipv6_allowed', v, [bad]), 'INVALID_IP_ADDRESS_SPECIFIED', ['ipv6_allowed']);
      await assertApiError(call('VIF.add_ipv6_allowed', v, bad), 'INVALID_IP_ADDRESS_SPECIFIED', ['ipv6_allowed']);
    }
    const r = await call<R>('VIF.get_record', v);
    assert.deepEqual([r.ipv4_allowed, r.ipv6_allowed], [['10.0.0.2'], []]);
  });

  test('VIF.create: device, MAC, trunks and other_config:mtu are checked too', async () => {
    const [n, m] = [await net(), await vm()];
    for (const d of ['-1', '1\n', ' 1', '65536', '99999999999']) await refusedNothingMade('VIF', () => call('VIF.create', vifArgs(m, n, { device: d })), 'INVALID_DEVICE', [d]);
    for (const mac of ['02:00:00:00:00:0g', '02:00:00:00:00:01\n', '02:00:00:00:00:01,actions=drop', '02-00-00-00-00-01']) {
      await refusedNothingMade('VIF', () => call('VIF.create', vifArgs(m, n, { MAC: mac })), 'MAC_INVALID', [mac]);
    }
    await refusedNothingMade('VIF', () => call('VIF.create', vifArgs(m, n, { trunks: [10, 4095] })), 'VLAN_TAG_INVALID', [4095]);
    for (const mtu of ['0', '67', '65536', '1500\nx', '1e3', '-1500']) {
      await refusedNothingMade('VIF', () => call('VIF.create', vifArgs(m, n, { other_config: { mtu } })), 'INVALID_VALUE', ['other_config:mtu', mtu]);
    }
  });

  test('other_config keys the agent reads are checked by every writer', async () => {
    const [n, m] = [await net(), await vm()];
    const v = await call<string>('VIF.create', vifArgs(m, n));
    await assertApiError(call('VIF.add_to_other_config', v, 'mtu', '9000\n'), 'INVALID_VALUE', ['other_config:mtu', '9000\n']);
    await assertApiError(call('VIF.set_other_config', v, { a: 'b', mtu: '70000' }), 'INVALID_VALUE', ['other_config:mtu', '70000']);
    await call('VIF.add_to_other_config', v, 'mtu', '9000');
    assert.deepEqual((await call<R>('VIF.get_record', v)).other_config, { mtu: '9000' });
    const pif = Object.entries(await call<Record<string, R>>('PIF.get_all_records')).find(([, p]) => p.device === 'eth1')![0];
    for (const [k, val] of [['bond-updelay', '1 0'], ['bond-lacp-time', 'fast\nx'], ['bond-no-such-thing', '1'], ['bond-primary', '-eth0'],
      ['mtu', 'x'], ['domain', 'example.com\nsearch evil'], ['domain', 'a b']]) {
      await assertApiError(call('PIF.add_to_other_config', pif, k, val), 'INVALID_VALUE', [`other_config:${k}`, val]);
    }
    await call('PIF.add_to_other_config', pif, 'bond-updelay', '5000');
    await call('PIF.add_to_other_config', pif, 'domain', 'example.com,lab.example.org');
    for (const bad of [0, 67, 65536, -1]) await assertApiError(call('network.set_MTU', n, bad), 'INVALID_VALUE', ['MTU', bad]);
    assert.equal((await call<R>('network.get_record', n)).MTU, 1500);
  });

  test('bridge and device names must be Linux interface names, at create and at introduce', async () => {
    for (const bad of BAD_IFNAMES.filter((b) => b !== '')) {
      await refusedNothingMade('network', () => net({ bridge: bad }), 'INVALID_VALUE', ['bridge', bad]);
      await refusedNothingMade('network', () => call('network.pool_introduce', 'x', '', 1500, {}, bad, true, []), 'INVALID_VALUE', ['bridge', bad]);
    }
    const [pif, rec] = Object.entries(await call<Record<string, R>>('PIF.get_all_records')).find(([, p]) => p.device === 'eth1')!;
    const intro = (over: R) => {
      const a = { device: 'eth9', network: rec.network, host: rec.host, MAC: '02:00:00:00:09:01', MTU: 1500, VLAN: -1, physical: true,
        mode: 'None', IP: '', netmask: '', gateway: '', DNS: '', bond: 'OpaqueRef:NULL', vlan: 'OpaqueRef:NULL', management: false,
        other_config: {}, ...over };
      return call('PIF.db_introduce', a.device, a.network, a.host, a.MAC, a.MTU, a.VLAN, a.physical, a.mode, a.IP, a.netmask, a.gateway, a.DNS,
        a.bond, a.vlan, a.management, a.other_config);
    };
    for (const bad of BAD_IFNAMES) await refusedNothingMade('PIF', () => intro({ device: bad }), 'INVALID_VALUE', ['device', bad]);
    await refusedNothingMade('PIF', () => intro({ MAC: 'x\ny' }), 'MAC_INVALID', ['x\ny']);
    await refusedNothingMade('PIF', () => intro({ VLAN: 4095 }), 'VLAN_TAG_INVALID', [4095]);
    for (const [k, v] of [['IP', '10.0.0.1\n'], ['netmask', '255.255.255.0 x'], ['gateway', 'gw'], ['DNS', '10.0.0.1,nameserver 1.1.1.1']] as const) {
      await refusedNothingMade('PIF', () => intro({ [k]: v }), 'INVALID_IP_ADDRESS_SPECIFIED', [k]);
    }
    await refusedNothingMade('PIF', () => intro({ other_config: { mtu: '1500\n' } }), 'INVALID_VALUE', ['other_config:mtu', '1500\n']);
    await refusedNothingMade('VLAN', () => call('VLAN.pool_introduce', pif, pif, 5000, {}), 'VLAN_TAG_INVALID', [5000]);
  });

  test('a vm-admin cannot give VIF.create values whose setters need pool-operator', async () => {
    const [n, m] = [await net(), await vm()];
    const as = (args: R) => () => vmAdmin.call('VIF.create', args);
    for (const [field, value, setter] of [['locking_mode', 'locked', 'VIF.set_locking_mode'], ['locking_mode', 'disabled', 'VIF.set_locking_mode'],
      ['ipv4_allowed', ['10.0.0.1'], 'VIF.set_ipv4_allowed'], ['ipv6_allowed', ['fe80::1'], 'VIF.set_ipv6_allowed']] as const) {
      const e = await (async () => { const n0 = await count('VIF'); const r = await assertApiError(as(vifArgs(m, n, { [field]: value }))(), 'RBAC_PERMISSION_DENIED'); assert.equal(await count('VIF'), n0); return r; })();
      assert.equal(e.params[0], setter);
      assert.match(e.params[1]!, /vm-admin.*pool-operator/);
    }
    assert.deepEqual((await call<R>('VM.get_record', m)).VIFs, []);
    // defaults given explicitly are fine, and so are the fields the vm-admin may set
    const v = await vmAdmin.call<string>('VIF.create', vifArgs(m, n, { locking_mode: 'network_default', ipv4_allowed: [], trunks: [5] }));
    assert.equal((await call<R>('VIF.get_record', v)).locking_mode, 'network_default');
    await assertApiError(vmAdmin.call('VIF.set_locking_mode', v, 'locked'), 'RBAC_PERMISSION_DENIED');
  });

  test('the tunnel key in network.other_config is pool-operator\'s, whatever the writer', async () => {
    const key = 'xcpnet-tunnel-key';
    await refusedNothingMade('network', () => vmAdmin.call('network.create', { name_label: 'x', other_config: { [key]: '7' } }), 'RBAC_PERMISSION_DENIED',
      ['network.add_to_other_config/key:xcpnet-tunnel-key', 'The role vm-admin of user vmadmin may not change other_config:xcpnet-tunnel-key; it needs pool-operator']);
    const n = await vmAdmin.call<string>('network.create', { name_label: 'x', other_config: { a: '1' } });
    await assertApiError(vmAdmin.call('network.add_to_other_config', n, key, '7'), 'RBAC_PERMISSION_DENIED');
    await assertApiError(vmAdmin.call('network.set_other_config', n, { a: '1', [key]: '7' }), 'RBAC_PERMISSION_DENIED');
    await call('network.add_to_other_config', n, key, '7');
    // other keys stay the vm-admin's; the key itself may neither change nor go
    await vmAdmin.call('network.set_other_config', n, { b: '2', [key]: '7' });
    await assertApiError(vmAdmin.call('network.set_other_config', n, { b: '2' }), 'RBAC_PERMISSION_DENIED');
    await assertApiError(vmAdmin.call('network.remove_from_other_config', n, key), 'RBAC_PERMISSION_DENIED');
    await assertApiError(vmAdmin.call('network.set_other_config', n, { [key]: '8' }), 'RBAC_PERMISSION_DENIED');
    assert.deepEqual((await call<R>('network.get_record', n)).other_config, { b: '2', [key]: '7' });
    for (const bad of ['0', '16777216', '7\n', 'x']) await assertApiError(call('network.add_to_other_config', await net(), key, bad), 'INVALID_VALUE', [`other_config:${key}`, bad]);
  });

  test('the pool\'s SDN (other_config:xcpnet-sdn) is mesh or ovn, set by pool-operator; the OVN address is a remote', async () => {
    const pool = (await call<string[]>('pool.get_all'))[0]!;
    for (const bad of ['', 'OVN', 'ovn\n', 'vxlan']) {
      await assertApiError(call('pool.add_to_other_config', pool, 'xcpnet-sdn', bad), 'INVALID_VALUE', ['other_config:xcpnet-sdn', bad]);
    }
    await assertApiError(vmAdmin.call('pool.add_to_other_config', pool, 'xcpnet-sdn', 'ovn'), 'RBAC_PERMISSION_DENIED');
    for (const bad of ['tcp:10.0.0.1', 'tcp:10.0.0.1:0', 'tcp:host:6642', 'unix:relative', 'unix:/a/../b', 'unix:/a b', 'ptcp:6642']) {
      await assertApiError(call('pool.add_to_other_config', pool, 'xcpnet-ovn-remote', bad), 'INVALID_VALUE', ['other_config:xcpnet-ovn-remote', bad]);
    }
    // The pool CA's SHA-256 fingerprint, as node and openssl print it (upper-case hex pairs).
    const fp = Array(32).fill('AB').join(':');
    for (const bad of ['', 'AB:CD', fp.toLowerCase(), `${fp}:00`, fp.replaceAll(':', '')]) {
      await assertApiError(call('pool.add_to_other_config', pool, 'xcpnet-ovn-ca', bad), 'RBAC_PERMISSION_DENIED',
        ['pool.add_to_other_config/key:xcpnet-ovn-ca', 'other_config:xcpnet-ovn-ca is written by the pool master alone']);
    }
    await assertApiError(vmAdmin.call('pool.add_to_other_config', pool, 'xcpnet-ovn-ca', fp), 'RBAC_PERMISSION_DENIED');
    // The master alone publishes it: even a pool-admin's well-formed value is refused, whichever way it comes.
    await assertApiError(call('pool.add_to_other_config', pool, 'xcpnet-ovn-ca', fp), 'RBAC_PERMISSION_DENIED',
      ['pool.add_to_other_config/key:xcpnet-ovn-ca', 'other_config:xcpnet-ovn-ca is written by the pool master alone']);
    await assertApiError(call('pool.set_other_config', pool, { 'xcpnet-ovn-ca': fp }), 'RBAC_PERMISSION_DENIED',
      ['pool.set_other_config/key:xcpnet-ovn-ca', 'other_config:xcpnet-ovn-ca is written by the pool master alone']);
    assert.equal((await call<R>('pool.get_record', pool)).other_config['xcpnet-ovn-ca'], undefined, 'nothing was written');
    assert.equal((await call<R>('pool.get_record', pool)).other_config['xcpnet-sdn'], undefined, 'nothing was written');
    await call('pool.add_to_other_config', pool, 'xcpnet-sdn', 'mesh');
    await call('pool.remove_from_other_config', pool, 'xcpnet-sdn');
  });

  test('the OVN cluster (other_config:xcpnet-ovn-cluster) is three hosts of the pool with addresses, the master among them, fixed once set', async () => {
    const pool0 = (await call<string[]>('pool.get_all'))[0]!;
    const key = 'xcpnet-ovn-cluster';
    const store = pool.master.server.store;
    const masterRef = (await call<R>('pool.get_record', pool0)).master as string;
    const masterUuid = (await call<R>('host.get_record', masterRef)).uuid as string;
    const u = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
    for (const bad of ['', u(1), `${u(1)},${u(2)}`, `${u(1)},${u(1)},${u(2)}`, `${u(1)},${u(2)},${u(3)},${u(4)}`, `${u(1)},${u(2)},x`, `${u(1)},${u(2)},${u(3)}\n`]) {
      await assertApiError(call('pool.add_to_other_config', pool0, key, bad), 'INVALID_VALUE', [`other_config:${key}`, bad, 'want 3 distinct host uuids, comma-separated']);
    }
    await assertApiError(call('pool.add_to_other_config', pool0, key, `${masterUuid},${u(1)},${u(2)}`), 'UUID_INVALID', ['host', u(1)]);
    // Two more hosts: without addresses, then with; then the master without its own.
    const refs = store.transact((tx) => [1, 2].map((n) => tx.create('host', { uuid: u(n), name_label: `h${n}`, address: '' })));
    const masterAddress = (await call<R>('host.get_record', masterRef)).address as string;
    try {
      const value = `${masterUuid},${u(1)},${u(2)}`;
      await assertApiError(call('pool.add_to_other_config', pool0, key, value), 'INVALID_VALUE', [`other_config:${key}`, value, `host ${u(1)} has no IPv4 management address`]);
      store.transact((tx) => { refs.forEach((r, i) => tx.update('host', r, { address: `192.0.2.${21 + i}` })); tx.update('host', masterRef, { address: '192.0.2.20' }); });
      const noMaster = `${u(1)},${u(2)},${u(1).replace(/1$/, '3')}`;
      store.transact((tx) => { tx.create('host', { uuid: u(3), name_label: 'h3', address: '192.0.2.23' }); });
      await assertApiError(call('pool.add_to_other_config', pool0, key, noMaster), 'INVALID_VALUE', [`other_config:${key}`, noMaster, 'the pool master must be one of the members']);
      await assertApiError(vmAdmin.call('pool.add_to_other_config', pool0, key, value), 'RBAC_PERMISSION_DENIED');
      assert.equal((await call<R>('pool.get_record', pool0)).other_config[key], undefined, 'nothing was written');
      await call('pool.add_to_other_config', pool0, key, value);
      assert.equal((await call<R>('pool.get_record', pool0)).other_config[key], value);
      // Fixed: neither changed (by any writer) nor removed.
      const other = `${u(1)},${masterUuid},${u(2)}`;
      const cfg = (await call<R>('pool.get_record', pool0)).other_config as R;
      await assertApiError(call('pool.set_other_config', pool0, { ...cfg, [key]: other }), 'INVALID_VALUE', [`other_config:${key}`, other, 'the OVN cluster\'s members are fixed once set']);
      await assertApiError(call('pool.remove_from_other_config', pool0, key), 'INVALID_VALUE', [`other_config:${key}`, '', 'the OVN cluster\'s members are fixed once set']);
      await call('pool.set_other_config', pool0, cfg);
      assert.equal((await call<R>('pool.get_record', pool0)).other_config[key], value);
    } finally {
      store.transact((tx) => {
        for (const [ref, p] of tx.all('pool')) { const oc = { ...(p.other_config as R) }; delete oc[key]; tx.update('pool', ref, { other_config: oc }); }
        for (const [ref, h] of tx.all('host')) if (String(h.uuid).startsWith('00000000-0000-4000-8000-')) tx.destroy('host', ref);
        tx.update('host', masterRef, { address: masterAddress });
      });
    }
  });

  test('every field rule of the IDL is applied by every constructor, setter and editor', async () => {
    // A value no rule accepts, by type (an int out of every range, a string with a newline).
    const hostile = (f: Field): Value => (f.ty.kind === 'int' ? 99999 : f.ty.kind === 'set' ? [f.ty.of.kind === 'int' ? 99999 : 'x\ny'] : 'x\ny');
    const base = async (cls: string): Promise<R> => {
      switch (cls) {
        case 'VIF': return vifArgs(await vm(), await net());
        case 'network': return { name_label: 'n', other_config: {} };
        case 'VM': return { name_label: 'vm', other_config: {} };
        default: throw new Error(`no base struct for ${cls}.create: add one to this test`);
      }
    };
    /** An object to write to: a new one, or for a class without a constructor any that exists. */
    const some = async (cls: (typeof CLASSES)[number]): Promise<string | undefined> =>
      cls.create ? call<string>(`${cls.name}.create`, await base(cls.name)) : (await call<string[]>(`${cls.name}.get_all`))[0];
    let checked = 0;
    for (const cls of CLASSES) {
      for (const f of cls.fields) {
        if (!f.check && !f.keys) continue;
        const samples: Value[] = f.check ? [hostile(f)] : [];
        for (const [k, rule] of Object.entries(f.keys ?? {})) if (rule.check) samples.push({ [k === '*' ? 'any' : k.replace(/\*$/, 'x')]: 'x\ny' });
        for (const value of samples) {
          if (cls.create && f.qual !== 'DynamicRO') {
            const n = await count(cls.name);
            await assert.rejects(call(`${cls.name}.create`, { ...await base(cls.name), [f.name]: value }), `${cls.name}.create with ${f.name}=${JSON.stringify(value)}`);
            assert.equal(await count(cls.name), n);
            checked++;
          }
          const ref = f.qual === 'RW' ? await some(cls) : undefined;
          if (ref) {
            const before = (await call<R>(`${cls.name}.get_record`, ref))[f.name];
            await assert.rejects(call(`${cls.name}.set_${f.name}`, ref, value), `${cls.name}.set_${f.name}`);
            if (f.ty.kind === 'map') {
              const entry = Object.entries(value as R)[0];
              assert.ok(entry, 'a bad map value has an entry');
              const [k, v] = entry;
              await assert.rejects(call(`${cls.name}.add_to_${f.name}`, ref, k, v), `${cls.name}.add_to_${f.name}`);
            }
            if (f.ty.kind === 'set') await assert.rejects(call(`${cls.name}.add_${f.name}`, ref, (value as Value[])[0]), `${cls.name}.add_${f.name}`);
            assert.deepEqual((await call<R>(`${cls.name}.get_record`, ref))[f.name], before ?? zeroOf(f.ty));
            checked++;
          }
        }
      }
    }
    assert.ok(checked >= 8, `rules exercised: ${checked}`);
  });
});
