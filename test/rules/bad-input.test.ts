// Bad input over JSON-RPC: every rule answers a XenAPI error and changes nothing. Null refs
// where a message needs an object (the dispatcher lets OpaqueRef:NULL through, the rule must
// read it), and references read before the values they come with.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';

type R = Record<string, unknown>;
const NULL = 'OpaqueRef:NULL';
const CLASSES = ['network', 'PIF', 'PIF_metrics', 'VIF', 'VLAN', 'Bond', 'tunnel', 'VM', 'host'];

describe('bad input', () => {
  let pool: TestPool;
  const store = () => pool.master.server.store;
  /** Every record of the networking classes, to show a refused call wrote nothing. */
  const snapshot = () => JSON.stringify(CLASSES.map((c) => [...store().all(c)]));
  /** The call fails with exactly this error and leaves every record as it was. */
  async function refused(method: string, params: unknown[], code: string, errParams: unknown[]): Promise<void> {
    const before = snapshot();
    await assertApiError(pool.call(method, ...params), code, errParams);
    assert.equal(snapshot(), before, `${method} changed nothing`);
  }
  let net: string;
  let vm: string;
  let vif: string;
  let host: string;

  before(async () => {
    pool = await startTestPool({ fakeNics: 4 });
    pool.master.server.hub.timeoutMs = 300;
    host = pool.master.host;
    net = await pool.call<string>('network.create', { name_label: 'n', other_config: {} });
    vm = await pool.call<string>('VM.create', { name_label: 'vm' });
    vif = await pool.call<string>('VIF.create', {
      device: '0', network: net, VM: vm, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {},
    });
  });
  after(async () => { await pool.close(); });

  test('VIF.move to OpaqueRef:NULL: HANDLE_INVALID, the VIF keeps its network', async () => {
    await refused('VIF.move', [vif, NULL], 'HANDLE_INVALID', ['network', NULL]);
    assert.equal((await pool.call<R>('VIF.get_record', vif)).network, net);
  });

  test('network.attach on OpaqueRef:NULL host: HANDLE_INVALID (the call is forwarded to the host)', async () => {
    await refused('network.attach', [net, NULL], 'HANDLE_INVALID', ['host', NULL]);
  });

  test('PIF.db_introduce needs a network and a host', async () => {
    const args = (network: string, h: string) => ['eth9', network, h, '02:00:00:00:00:99', 1500, -1, true, 'None', '', '', '', '',
      NULL, NULL, false, {}];
    await refused('PIF.db_introduce', args(NULL, host), 'HANDLE_INVALID', ['network', NULL]);
    await refused('PIF.db_introduce', args(net, NULL), 'HANDLE_INVALID', ['host', NULL]);
    await refused('PIF.pool_introduce', args(net, NULL), 'HANDLE_INVALID', ['host', NULL]);
  });

  test('PIF.create_VLAN on OpaqueRef:NULL host: HANDLE_INVALID before the device lookup', async () => {
    await refused('PIF.create_VLAN', ['eth3', net, NULL, 5], 'HANDLE_INVALID', ['host', NULL]);
  });

  test('VM.start_on OpaqueRef:NULL: HANDLE_INVALID at once, the VM stays halted', async () => {
    const other = await pool.call<string>('VM.create', { name_label: 'no vifs' });
    const t0 = Date.now();
    await refused('VM.start_on', [other, NULL, false, false], 'HANDLE_INVALID', ['host', NULL]);
    assert.ok(Date.now() - t0 < 250, 'no wait for an agent of no host');
    assert.equal((await pool.call<R>('VM.get_record', other)).power_state, 'Halted');
  });

  test('VIF calls read the VIF before validating the value', async () => {
    await refused('VIF.add_ipv4_allowed', [NULL, 'bad'], 'HANDLE_INVALID', ['VIF', NULL]);
    await refused('VIF.set_ipv4_allowed', [NULL, ['bad']], 'HANDLE_INVALID', ['VIF', NULL]);
    await refused('VIF.add_ipv6_allowed', [NULL, 'bad'], 'HANDLE_INVALID', ['VIF', NULL]);
    await refused('VIF.set_ipv6_allowed', [NULL, ['bad']], 'HANDLE_INVALID', ['VIF', NULL]);
    await refused('VIF.add_trunks', [NULL, 99999], 'HANDLE_INVALID', ['VIF', NULL]);
  });
});
