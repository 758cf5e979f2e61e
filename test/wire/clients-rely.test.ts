// What real clients rely on, over real HTTP: event subscriptions naming classes the server lacks,
// system.listMethods as xapi lists it, which messages have an Async form and the fault of one
// that has not, and get_all(_records)_where in xapi's filter language with its errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertApiError, startTestPool, type TestPool } from '../support/master.js';

let pool: TestPool;
before(async () => { pool = await startTestPool(); });
after(async () => { await pool.close(); });

const newNet = (name: string, extra: Record<string, unknown> = {}) =>
  pool.call<string>('network.create', { name_label: name, other_config: {}, ...extra });

test('event.from and event.register: a class the server does not know matches nothing', async () => {
  const first = await pool.call<any>('event.from', ['no_such_class', 'network', 'SR/OpaqueRef:x', 'a/b/c'], '', 0);
  assert.ok(first.events.length > 0 && first.events.every((e: any) => e.class === 'network'));
  const none = await pool.call<any>('event.from', ['no_such_class'], '', 0);
  assert.deepEqual(none.events, []);
  const net = await newNet('ev');
  const later = await pool.call<any>('event.from', ['no_such_class', 'network'], first.token, 1);
  assert.deepEqual(later.events.map((e: any) => [e.class, e.operation, e.ref]), [['network', 'add', net]]);
  await pool.call('event.register', ['no_such_class']);
  await pool.call('event.unregister', ['no_such_class']);
});

test('system.listMethods lists every message by its synchronous name only', async () => {
  const names = await pool.call<string[]>('system.listMethods');
  for (const n of ['VLAN.create', 'network.get_all_records', 'network.get_all_records_where', 'VIF.plug', 'event.from', 'session.login_with_password']) {
    assert.ok(names.includes(n), n);
  }
  assert.deepEqual(names.filter((n) => n.startsWith('Async.') || n === 'system.listMethods'), []);
});

test('Async as xapi: which messages have it, and the fault of one that has not', async () => {
  const net = await newNet('async');
  const fault = ['Fault', 'No async mode for this operation (rpc: network.get_record)'];
  await assertApiError(pool.call('Async.network.get_record', net), fault[0]!, [fault[1]]);
  // The parameter count is checked first; the session after.
  await assertApiError(pool.call('Async.network.get_record'), 'MESSAGE_PARAMETER_COUNT_MISMATCH', ['network.get_record', 1, 0]);
  const stale = await pool.master.server.handle({ method: 'Async.network.get_record', params: ['OpaqueRef:stale', net] });
  assert.deepEqual(stale, { ok: false, error: fault });
  await assertApiError(pool.call('Async.event.from', ['network'], '', 0), 'Fault', ['No async mode for this operation (rpc: event.from)']);
  await assertApiError(pool.call('Async.task.create', 'l', 'd'), 'Fault', ['No async mode for this operation (rpc: task.create)']);
  // Custom messages are asynchronous unless xapi's datamodel says otherwise.
  const host = (await pool.call<string[]>('host.get_all'))[0]!;
  for (const [method, args] of [['host.get_management_interface', [host]], ['event.register', [['pool']]], ['network.destroy', [net]]] as const) {
    const task = await pool.call<string>(`Async.${method}`, ...args);
    assert.match(task, /^OpaqueRef:/, method);
  }
});

test('where: a value on either side, one left-associative and/or level, not over the whole chain', async () => {
  const w1 = await newNet('w1', { MTU: 1400 });
  const all = await pool.call<string[]>('network.get_all');
  const where = (expr: string) => pool.call<string[]>('network.get_all_where', expr);
  const sorted = (xs: string[]) => [...xs].sort();
  assert.deepEqual(await where('"w1" = field "name__label"'), [w1]);
  assert.deepEqual(await where('field "name__label" = "w1"'), [w1]);
  assert.deepEqual(sorted(await where('"x" = "x"')), sorted(all));
  assert.deepEqual(await where('field "name__label" = field "name__description"'), []);
  // `not` takes everything after it: not (A and false).
  assert.deepEqual(sorted(await where('not field "name__label" = "w1" and false')), sorted(all));
  // and/or at one level, left to right: (true or false) and false.
  assert.deepEqual(await where('true or false and false'), []);
  assert.deepEqual(sorted(await where('false and false or true')), sorted(all));
  assert.deepEqual(await where('(field "MTU" = "1400")\tand\n(field "managed" = "true")'), [w1]);
  assert.deepEqual(await where(`field "_ref" = "${w1}"`), [w1]);
});

test('where: sets and maps compare as the database writes them', async () => {
  const net = await newNet('sets', { other_config: { k: 'v', "it's": 'a\\b' } });
  const where = (expr: string) => pool.call<string[]>('network.get_all_where', `field "name__label" = "sets" and ${expr}`);
  assert.deepEqual(await where('field "tags" = "()"'), [net]);
  await pool.call('network.add_tags', net, 'a');
  await pool.call('network.add_tags', net, "b'c");
  assert.deepEqual(await where(`field "tags" = "('a' 'b\\'c')"`), [net]);
  assert.deepEqual(await where(`field "other_config" = "(('k' 'v') ('it\\'s' 'a\\\\b'))"`), [net]);
  assert.deepEqual(await where('field "tags" = "[]"'), []);
});

test('where: xapi\'s errors for text it cannot read and for columns that do not exist', async () => {
  await newNet('errs');
  const parse = 'Stdlib.Parsing.Parse_error';
  const lex = 'Failure("lexing: empty token")';
  for (const [expr, exn] of [
    ['field "name__label" =', parse], ['', parse], ['field "a" = "b" and', parse], ['(true', parse], ['true true', parse],
    ['field "name__label = "x"', lex], ['field \'a\' = "b"', lex], ['TRUE', lex],
  ] as const) {
    await assertApiError(pool.call('network.get_all_records_where', expr), 'INVALID_VALUE', [expr, exn]);
  }
  // No escapes in a literal: a backslash is itself, and the next quote ends it.
  assert.deepEqual(await pool.call('network.get_all_where', 'field "name__label" = "errs\\" and true'), []);
  await assertApiError(pool.call('network.get_all_where', 'field "name_label" = "x"'), 'INTERNAL_ERROR', ['missing field', 'name_label', '']);
  await assertApiError(pool.call('network.get_all_records_where', 'field "nope" = "x"'), 'INTERNAL_ERROR', ['missing field', 'nope', '']);
  // An unknown column is only an error when a record's evaluation reaches it.
  assert.deepEqual(await pool.call('network.get_all_where', 'false and field "nope" = "x"'), []);
});

test('MAP_DUPLICATE_KEY names the database column of a namespaced map', async () => {
  const net = await newNet('dup');
  const vm = await pool.call<string>('VM.create', { name_label: 'vm', other_config: { mac_seed: 'seed' } });
  const vif = await pool.call<string>('VIF.create', {
    device: '0', network: net, VM: vm, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {},
  });
  await pool.call('VIF.add_to_qos_algorithm_params', vif, 'kbps', '100');
  await assertApiError(pool.call('VIF.add_to_qos_algorithm_params', vif, 'kbps', '100'), 'MAP_DUPLICATE_KEY', ['VIF', 'qos__algorithm_params', vif, 'kbps']);
  assert.deepEqual(await pool.call('VIF.get_all_where', `field "qos__algorithm_params" = "(('kbps' '100'))"`), [vif]);
});

test('VIF.create reads the VM before the network, as xapi: the first bad reference is the VM', async () => {
  const net = await newNet('vifref');
  const vm = await pool.call<string>('VM.create', { name_label: 'vm2', other_config: { mac_seed: 'seed2' } });
  const args = (VM: string, network: string) => ({
    device: '0', network, VM, MAC: '', MTU: 1500, other_config: {}, qos_algorithm_type: '', qos_algorithm_params: {},
  });
  await assertApiError(pool.call('VIF.create', args('OpaqueRef:badvm', 'OpaqueRef:badnet')), 'HANDLE_INVALID', ['VM', 'OpaqueRef:badvm']);
  await assertApiError(pool.call('VIF.create', args(vm, 'OpaqueRef:badnet')), 'HANDLE_INVALID', ['network', 'OpaqueRef:badnet']);
  assert.match(await pool.call<string>('VIF.create', args(vm, net)), /^OpaqueRef:/);
});
