import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../common/api-error.js';
import { compileHost } from './desired.js';
import { overridePool, pifForReset, pifOfBridge } from './emergency.js';
import { answer, type LocalHost, type ResetConfig } from './local-api.js';
import { PoolBuilder } from './pool-builder.js';
import { defined } from '../common/defined.js';

const HU = '11111111-2222-3333-4444-555555555555';

function pool() {
  const b = new PoolBuilder();
  const h = b.host(HU);
  const p0 = b.physical(h, 'eth0', b.network('xenbr0'), { mode: 'Static', IP: '198.18.0.5', netmask: '255.255.255.0', gateway: '198.18.0.1', management: true });
  const p1 = b.physical(h, 'eth1', b.network('xenbr1'), { attached: false, mode: 'Static', IP: '192.0.2.60', netmask: '255.255.255.0', gateway: '192.0.2.1' });
  const vm = b.vm(h, 3);
  b.vif(vm, defined(b.records.PIF[p0], 'PIF').network as string, 0, '02:00:00:00:03:00');
  return { b, h, p0, p1 };
}

test('emergency override: management on the named bridge with its recorded IP configuration', () => {
  const { b, h, p1 } = pool();
  assert.equal(pifOfBridge(b.records, h, 'xenbr1'), p1);
  assert.throws(() => pifOfBridge(b.records, h, 'xenbr9'), (e: ApiError) => e.code === 'INVALID_VALUE' && e.params[0] === 'interface');
  const cfg = compileHost(overridePool(b.records, h, { kind: 'bridge', bridge: 'xenbr1', pif: p1 }), h).doc;
  assert.deepEqual(cfg.gateway, { dev: 'xenbr1', via: '192.0.2.1', owner: p1 });
  assert.ok(cfg.addresses.some((i) => i.dev === 'xenbr1' && i.addrs[0] === '192.0.2.60/24'));
  assert.equal(defined(b.records.PIF[p1], 'PIF').management, false, 'the records themselves are not changed');
});

test('reset-networking override: only the named NIC, with the given configuration; no guest, no other PIF', () => {
  const { b, h, p1 } = pool();
  const reset: ResetConfig = { device: 'eth1', mode: 'Static', IP: '192.0.2.61', netmask: '255.255.255.0', gateway: '192.0.2.1', DNS: '192.0.2.1' };
  assert.equal(pifForReset(b.records, h, reset), p1);
  for (const [bad, code] of [[{ ...reset, device: 'eth7' }, 'INVALID_VALUE'], [{ ...reset, IP: '192.0.2.999' }, 'INVALID_IP_ADDRESS_SPECIFIED'], [{ ...reset, gateway: 'x' }, 'INVALID_IP_ADDRESS_SPECIFIED']] as const) {
    assert.throws(() => pifForReset(b.records, h, bad), (e: ApiError) => e.code === code);
  }
  const cfg = compileHost(overridePool(b.records, h, { kind: 'reset', cfg: reset, pif: p1 }), h).doc;
  assert.deepEqual(cfg.bridges.map((x) => x.name), ['xenbr1']);
  assert.deepEqual(cfg.addresses.map((i) => `${i.dev} ${i.addrs.join(',')}`), ['xenbr1 192.0.2.61/24']);
  assert.deepEqual(cfg.vifs, []);
  assert.deepEqual(cfg.dns?.servers, ['192.0.2.1']);
});

test('the local API: emergency calls only in emergency mode, everything else HOST_IS_SLAVE', async () => {
  let emergency = false;
  const done: string[] = [];
  const host: LocalHost = {
    inEmergency: () => emergency, master: () => '192.0.2.1',
    localManagement: async (b) => { done.push(`mgmt ${b}`); },
    resetNetworking: async (c) => { done.push(`reset ${c.device} ${c.mode}`); },
  };
  assert.match(String(await answer(host, 'session.login_with_password', ['root', ''])), /^OpaqueRef:/);
  assert.equal(await answer(host, 'host.is_in_emergency_mode', ['s']), false);
  await assert.rejects(answer(host, 'host.local_management_reconfigure', ['s', 'xenbr1']), (e: ApiError) => e.code === 'NOT_IN_EMERGENCY_MODE');
  await assert.rejects(answer(host, 'PIF.get_all', ['s']), (e: ApiError) => e.code === 'HOST_IS_SLAVE' && e.params[0] === '192.0.2.1');
  await assert.rejects(answer(host, 'host.reset_networking_local', ['s', 'eth1', 'dhcpx']), (e: ApiError) => e.code === 'INVALID_VALUE');
  emergency = true;
  assert.equal(await answer(host, 'host.is_in_emergency_mode', ['s']), true);
  await answer(host, 'host.local_management_reconfigure', ['s', 'xenbr1']);
  await answer(host, 'host.reset_networking_local', ['s', 'eth1', 'DHCP', '', '', '', '']);
  assert.deepEqual(done, ['mgmt xenbr1', 'reset eth1 DHCP']);
});
