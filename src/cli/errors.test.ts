import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../common/api-error.js';
import { ERRORS } from '../idl/errors.js';
import { ArgError, CliFailure, UsageError } from './args.js';
import { classOfCommand, forBash } from './completion.js';
import { randomMac } from './commands/vm.js';
import { describeRef, errorLines, formatApiError } from './errors.js';
import type { Caller } from './fields.js';

test('known codes: the description, then one line per declared parameter', () => {
  assert.deepEqual(formatApiError('UUID_INVALID', ['network', 'abc'], { params: ['type', 'uuid'], doc: 'No such object.' }),
    ['No such object.', 'type: network', 'uuid: abc']);
});

test('surplus values are <extra>, missing ones <unknown>', () => {
  assert.deepEqual(formatApiError('NETWORK_CONTAINS_VIF', ['v1', 'v2'], { params: ['vifs'], doc: 'd' }),
    ['d', 'vifs: v1', '<extra>: v2']);
  assert.deepEqual(formatApiError('VM_BAD_POWER_STATE', ['vm1'], { params: ['vm', 'expected', 'actual'], doc: 'd' }),
    ['d', 'vm: vm1', 'expected: <unknown>', 'actual: <unknown>']);
});

test('unknown codes print the raw code and parameters', () => {
  assert.deepEqual(formatApiError('NO_SUCH_THING', ['a', 'b'], undefined), ['Error code: NO_SUCH_THING', 'Error parameters: a, b']);
});

test('every kind of failure gets its own form', async () => {
  assert.deepEqual(await errorLines(new ArgError('bad')), ['Error: bad']);
  assert.deepEqual(await errorLines(new UsageError(['Unknown command: x', "For usage run: 'xe help'"])),
    ['Unknown command: x', "For usage run: 'xe help'"]);
  assert.deepEqual(await errorLines(new CliFailure("Field 'uuid' is read-only.")),
    [ERRORS.INTERNAL_ERROR!.doc, "message: Failure: Field 'uuid' is read-only."]);
  assert.deepEqual(await errorLines(new ApiError('SESSION_AUTHENTICATION_FAILED', ['root', 'bad'])),
    ['Authentication failed', "For usage run: 'xe help'"]);
  assert.deepEqual(await errorLines(new ApiError('PIF_IS_PHYSICAL')), [ERRORS.PIF_IS_PHYSICAL!.doc, 'PIF: <unknown>']);
  assert.deepEqual(await errorLines(new Error('boom')), ['Error: boom']);
});

test('refs in error parameters are shown as uuids, with the name for named classes', async () => {
  const c: Caller = {
    call: async <T>(method: string, ref: unknown): Promise<T> => {
      if (method === 'PIF.get_uuid' && ref === 'OpaqueRef:p') return 'pif-uuid' as T;
      if (method === 'network.get_uuid' && ref === 'OpaqueRef:n') return 'net-uuid' as T;
      if (method === 'network.get_name_label') return 'lab' as T;
      throw new ApiError('HANDLE_INVALID', [method, String(ref)]);
    },
  };
  assert.equal(await describeRef(c, 'OpaqueRef:p'), 'pif-uuid');
  assert.equal(await describeRef(c, 'OpaqueRef:n'), 'net-uuid (lab)');
  assert.equal(await describeRef(c, 'OpaqueRef:gone'), 'OpaqueRef:gone');
  assert.equal(await describeRef(c, 'eth0'), 'eth0');
  const lines = await errorLines(new ApiError('NETWORK_CONTAINS_PIF', ['OpaqueRef:p']), c);
  assert.deepEqual(lines, [ERRORS.NETWORK_CONTAINS_PIF!.doc, 'pifs: pif-uuid']);
});

test('mac=random: one random byte everywhere, locally administered unicast', () => {
  assert.equal(randomMac(0x2f), '2e:2f:2f:2f:2f:2f');
  assert.equal(randomMac(0x00), '02:00:00:00:00:00');
  assert.match(randomMac(), /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
});

test('completion replies fit bash word breaks at = and :', () => {
  assert.equal(forBash('net', 'network-list '), 'network-list ');
  assert.equal(forBash('uuid=', 'uuid=abc '), '=abc ');
  assert.equal(forBash('uuid=ab', 'uuid=abc '), 'abc ');
  assert.equal(classOfCommand('vm-vif-list'), 'vm');
  assert.equal(classOfCommand('pif-param-list'), 'pif');
  assert.equal(classOfCommand('event-wait'), undefined);
});
