// The explicit messages served for classes that are otherwise data only: message (xen-api:
// ocaml/xapi/xapi_message.ml), SDN_controller (xapi_sdn_controller.ml), network_sriov
// (xapi_network_sriov.ml). Driven through the server's one call path, with xapi's roles.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootPool } from '../../src/server/boot.js';
import { RULES } from '../../src/server/impl/index.js';
import { MESSAGE_BYTES_LIMIT, MESSAGE_LIMIT } from '../../src/server/impl/data-classes.js';
import { XapiServer } from '../../src/server/server.js';
import { assertApiError } from '../support/master.js';
import { call, login } from '../security/kit.js';

let server: XapiServer;
let host: string;
let hostUuid: string;
const s: Record<string, string> = {};

before(async () => {
  server = new XapiServer({ dbPath: ':memory:', impls: RULES });
  host = bootPool(server, { hostName: 'h' });
  hostUuid = String(server.store.get('host', host).uuid);
  for (const [user, role] of [['root', 'pool-admin'], ['op', 'pool-operator'], ['viewer', 'read-only']] as const) {
    server.users.set(user, 'pw', role);
    s[user] = await login(server, user, 'pw');
  }
});
after(() => server.close());

const root = <T = any>(m: string, ...a: unknown[]) => call<T>(server, s.root!, m, ...a);
const messageCount = () => server.store.count('message');

test('message.create records a message about an existing object; a read-only user may read but not create', async () => {
  const ref = await call<string>(server, s.op!, 'message.create', 'HOST_NOTE', 3, 'Host', hostUuid, 'body text');
  const rec = await call<Record<string, unknown>>(server, s.viewer!, 'message.get_record', ref);
  assert.deepEqual([rec.name, rec.priority, rec.cls, rec.obj_uuid, rec.body], ['HOST_NOTE', 3, 'Host', hostUuid, 'body text']);
  assert.match(String(rec.timestamp), /^\d{8}T\d{2}:\d{2}:\d{2}Z$/);
  assert.equal(await call(server, s.viewer!, 'message.get_by_uuid', rec.uuid), ref);
  assert.deepEqual(await call(server, s.viewer!, 'message.get_all'), [ref]);
  assert.deepEqual(Object.keys(await call(server, s.viewer!, 'message.get_all_records_where', 'field "name" = "HOST_NOTE"')), [ref]);
  const before = messageCount();
  await assertApiError(call(server, s.viewer!, 'message.create', 'X', 1, 'Host', hostUuid, ''), 'RBAC_PERMISSION_DENIED');
  await assertApiError(root('message.create', 'X', 1, 'VM', hostUuid, ''), 'UUID_INVALID', ['VM', hostUuid]);
  await assertApiError(root('message.create', 'X', 1, 'Pool', 'no-such-uuid', ''), 'UUID_INVALID', ['Pool', 'no-such-uuid']);
  await assertApiError(root('message.create', 'X', 1, 'Nothing', hostUuid, ''), 'INVALID_VALUE');
  await assertApiError(call(server, s.viewer!, 'message.destroy', ref), 'RBAC_PERMISSION_DENIED');
  assert.equal(messageCount(), before);
  await root('message.destroy', ref);
  assert.equal(messageCount(), before - 1);
  await assertApiError(root('message.destroy', ref), 'HANDLE_INVALID', ['message', ref]);
});

test('message.get and get_since answer the messages newer than a time; get needs a known object', async () => {
  const poolUuid = String([...server.store.all('pool')][0]![1].uuid);
  const a = await root<string>('message.create', 'A', 1, 'Host', hostUuid, '');
  const b = await root<string>('message.create', 'B', 1, 'Pool', poolUuid, '');
  const old = '19700101T00:00:00Z';
  assert.deepEqual(Object.keys(await root('message.get', 'Host', hostUuid, old)), [a]);
  assert.deepEqual(Object.keys(await root('message.get', 'Pool', poolUuid, old)).sort(), [b]);
  assert.deepEqual(Object.keys(await root('message.get_since', old)).sort(), [a, b].sort());
  assert.deepEqual(await root('message.get_since', '20991231T00:00:00Z'), {});
  // RFC 3339 as well, as xapi takes it.
  assert.deepEqual(Object.keys(await root('message.get_since', '1970-01-01T00:00:00Z')).sort(), [a, b].sort());
  await assertApiError(root('message.get', 'Host', 'no-such-uuid', old), 'UUID_INVALID', []);
  await assertApiError(root('message.get_since', 'yesterday-ish'), 'INVALID_VALUE', ['since', 'yesterday-ish']);
  await root('message.destroy_many', [a, b]);
});

test('message.destroy_many is all or none: one bad ref and nothing goes', async () => {
  const a = await root<string>('message.create', 'A', 1, 'Host', hostUuid, '');
  const bad = 'OpaqueRef:00000000-0000-0000-0000-00000000dead';
  await assertApiError(root('message.destroy_many', [a, bad]), 'HANDLE_INVALID', ['message', bad]);
  assert.ok(server.store.find('message', a));
  await assertApiError(call(server, s.viewer!, 'message.destroy_many', [a]), 'RBAC_PERMISSION_DENIED');
  await root('message.destroy_many', [a, a]);
  assert.equal(server.store.find('message', a), undefined);
});

test('messages are bounded: beyond the count or the bytes, the oldest make room', async () => {
  const body = 'x'.repeat(60_000);
  const first = await root<string>('message.create', 'BIG', 1, 'Host', hostUuid, body);
  const fit = Math.floor(MESSAGE_BYTES_LIMIT / (body.length + 3));
  for (let i = 1; i < fit; i++) await root('message.create', 'BIG', 1, 'Host', hostUuid, body);
  assert.equal(server.store.find('message', first) !== undefined, true, 'still within the bound');
  await root('message.create', 'BIG', 1, 'Host', hostUuid, body);
  assert.equal(server.store.find('message', first) === undefined, true, 'the oldest went');
  assert.equal(messageCount(), fit);
  const all = await root<Record<string, unknown>>('message.get_all');
  await root('message.destroy_many', all);
  const small = await root<string>('message.create', 'SMALL', 1, 'Host', hostUuid, '');
  for (let i = 1; i < MESSAGE_LIMIT; i++) await root('message.create', 'SMALL', 1, 'Host', hostUuid, '');
  assert.equal(messageCount(), MESSAGE_LIMIT);
  assert.equal(server.store.find('message', small) !== undefined, true);
  await root('message.create', 'SMALL', 1, 'Host', hostUuid, '');
  assert.equal(messageCount(), MESSAGE_LIMIT);
  assert.equal(server.store.find('message', small) === undefined, true);
  await root('message.destroy_many', await root('message.get_all'));
});

test('SDN_controller.introduce/forget: one per pool, xapi\'s checks of protocol, address and port', async () => {
  await assertApiError(call(server, s.viewer!, 'SDN_controller.introduce', 'ssl', '192.0.2.5', 6640), 'RBAC_PERMISSION_DENIED');
  await assertApiError(root('SDN_controller.introduce', 'ssl', '', 0), 'INVALID_VALUE', ['address', '']);
  await assertApiError(root('SDN_controller.introduce', 'ssl', 'ctl.example', 0), 'INVALID_VALUE', ['address', 'ctl.example']);
  await assertApiError(root('SDN_controller.introduce', 'pssl', '192.0.2.5', 0), 'INVALID_VALUE', ['address', '192.0.2.5']);
  await assertApiError(root('SDN_controller.introduce', 'pssl', '', 6640), 'INVALID_VALUE', ['port', '6640']);
  await assertApiError(root('SDN_controller.introduce', 'ssl', '192.0.2.5', 70000), 'INVALID_VALUE', ['port', '70000']);
  await assertApiError(root('SDN_controller.introduce', 'tcp', '192.0.2.5', 0), 'INVALID_VALUE');
  assert.equal(server.store.count('SDN_controller'), 0);
  const ref = await call<string>(server, s.op!, 'SDN_controller.introduce', 'ssl', '192.0.2.5', 0);
  assert.deepEqual(await root('SDN_controller.get_port', ref), 6632);
  await assertApiError(root('SDN_controller.introduce', 'pssl', '', 0), 'OPERATION_NOT_ALLOWED');
  await root('SDN_controller.forget', ref);
  // The versioned parameters' defaults: protocol ssl, address "", port 0 (so ssl wants an address).
  assert.deepEqual(await server.handle({ method: 'SDN_controller.introduce', params: [s.root!] }), { ok: false, error: ['INVALID_VALUE', 'address', ''] });
  const passive = await root<string>('SDN_controller.introduce', 'pssl', '', 0);
  assert.deepEqual([await root('SDN_controller.get_protocol', passive), await root('SDN_controller.get_port', passive)], ['pssl', 0]);
  await root('SDN_controller.forget', passive);
  await assertApiError(root('SDN_controller.forget', passive), 'HANDLE_INVALID');
});

test('network_sriov.create: xapi\'s checks, then no PIF is SR-IOV capable; nothing is made', async () => {
  const net = await root<string>('network.create', { name_label: 'sriov', other_config: {} });
  // A NIC's PIF as the agent's report would make it.
  const pif = server.store.transact((tx) => tx.create('PIF', { host, device: 'eth1', network: net, physical: true, MAC: '02:00:00:00:00:01', VLAN: -1 }));
  await assertApiError(call(server, s.viewer!, 'network_sriov.create', pif, net), 'RBAC_PERMISSION_DENIED');
  server.store.transact((tx) => tx.update('PIF', pif, { physical: false }));
  await assertApiError(root('network_sriov.create', pif, net), 'PIF_IS_NOT_PHYSICAL', [pif]);
  server.store.transact((tx) => tx.update('PIF', pif, { physical: true, managed: false }));
  await assertApiError(root('network_sriov.create', pif, net), 'PIF_UNMANAGED', [pif]);
  server.store.transact((tx) => tx.update('PIF', pif, { managed: true }));
  await assertApiError(root('network_sriov.create', pif, net), 'PIF_IS_NOT_SRIOV_CAPABLE', [pif]);
  assert.equal(server.store.count('network_sriov'), 0);
  // A record that came in otherwise (a restored database) can be destroyed with its logical PIF.
  const logical = server.store.transact((tx) => tx.create('PIF', { host, device: 'eth1', network: net, physical: false, MAC: 'fe:ff:ff:ff:ff:ff', VLAN: -1 }));
  const sriov = server.store.transact((tx) => tx.create('network_sriov', { physical_PIF: pif, logical_PIF: logical }));
  assert.equal(await root('network_sriov.get_remaining_capacity', sriov), 0);
  await assertApiError(call(server, s.viewer!, 'network_sriov.destroy', sriov), 'RBAC_PERMISSION_DENIED');
  await root('network_sriov.destroy', sriov);
  assert.equal(server.store.find('PIF', logical), undefined);
  assert.equal(server.store.find('network_sriov', sriov), undefined);
});
