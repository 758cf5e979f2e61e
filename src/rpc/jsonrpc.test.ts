import { test } from 'node:test';
import assert from 'node:assert/strict';
import { t, type ClassDef } from '../idl/meta.js';
import { RpcParseError } from './errors.js';
import { encodeJsonRpcParseError, encodeJsonRpcResponse, parseJsonRpcCall } from './jsonrpc.js';
import { DEFAULT_LIMITS } from './limits.js';

test('parse: 2.0 and 1.0 requests', () => {
  assert.deepEqual(parseJsonRpcCall('{"id":0,"jsonrpc":"2.0","method":"VLAN.create","params":["s","p",10,"n"]}'),
    { version: '2.0', id: 0, method: 'VLAN.create', params: ['s', 'p', 10, 'n'] });
  assert.deepEqual(parseJsonRpcCall('{"method":"a.b","params":[],"id":"x"}'),
    { version: '1.0', id: 'x', method: 'a.b', params: [] });
});

test('parse: a 2.0 params object is one positional argument', () => {
  assert.deepEqual(parseJsonRpcCall('{"jsonrpc":"2.0","method":"a","params":{"k":1},"id":1}').params, [{ k: 1 }]);
  assert.deepEqual(parseJsonRpcCall('{"jsonrpc":"2.0","method":"a","id":1}').params, []);
});

test('parse: rejects notifications and invalid envelopes', () => {
  const cases: [string, number][] = [
    ['{', -32700],
    ['[]', -32600],
    ['"x"', -32600],
    ['{"jsonrpc":"2.0","method":"a","params":[]}', -32600],
    ['{"method":"a","params":[],"id":null}', -32600],
    ['{"jsonrpc":"2.0","method":"a","params":[],"id":{}}', -32600],
    ['{"jsonrpc":"2.0","params":[],"id":1}', -32600],
    ['{"jsonrpc":"3.0","method":"a","params":[],"id":1}', -32600],
    ['{"method":"a","params":{"x":1},"id":1}', -32600],
  ];
  for (const [body, code] of cases) {
    assert.throws(() => parseJsonRpcCall(body), (e: unknown) => e instanceof RpcParseError && e.code === code, body);
  }
  // The envelope's id and version are kept for the error reply (and the call must throw).
  assert.throws(() => parseJsonRpcCall('{"jsonrpc":"2.0","params":[],"id":7}'), (e: unknown) => {
    assert.ok(e instanceof RpcParseError);
    assert.equal(e.id, 7);
    assert.equal(e.version, '2.0');
    return true;
  });
});

test('encode 2.0: success has no error key, failure has code 1 and data', () => {
  const call = { version: '2.0' as const, id: 0 };
  assert.equal(encodeJsonRpcResponse(call, { ok: true, value: 'OpaqueRef:x', ty: t.ref('VLAN') }),
    '{"jsonrpc":"2.0","result":"OpaqueRef:x","id":0}');
  assert.equal(encodeJsonRpcResponse(call, { ok: true, value: null, ty: null }), '{"jsonrpc":"2.0","result":"","id":0}');
  assert.equal(encodeJsonRpcResponse(call, { ok: false, error: ['HANDLE_INVALID', 'network', 'OpaqueRef:bogus'] }),
    '{"jsonrpc":"2.0","error":{"code":1,"message":"HANDLE_INVALID","data":["network","OpaqueRef:bogus"]},"id":0}');
});

test('encode 1.0: error null on success, [code, ...params] on failure', () => {
  const call = { version: '1.0' as const, id: 'a' };
  assert.equal(encodeJsonRpcResponse(call, { ok: true, value: [1, true], ty: t.any }), '{"result":[1,true],"error":null,"id":"a"}');
  assert.equal(encodeJsonRpcResponse(call, { ok: false, error: ['SESSION_INVALID', 'OpaqueRef:s'] }),
    '{"result":null,"error":["SESSION_INVALID","OpaqueRef:s"],"id":"a"}');
});

test('parse errors are XenAPI-shaped', () => {
  assert.deepEqual(JSON.parse(encodeJsonRpcParseError(new RpcParseError('jsonrpc', 'Parse error: x'))),
    { jsonrpc: '2.0', error: { code: -32700, message: 'INTERNAL_ERROR', data: ['Parse error: x'] }, id: null });
  assert.deepEqual(JSON.parse(encodeJsonRpcParseError(new RpcParseError('jsonrpc', 'bad', { code: -32600, version: '1.0', id: 3 }))),
    { result: null, error: ['INTERNAL_ERROR', 'bad'], id: 3 });
});

test('with a class lookup, records and event snapshots are shaped', () => {
  const net: ClassDef = {
    name: 'network', doc: '', messages: [], persistent: true,
    fields: [
      { name: 'uuid', ty: t.string, qual: 'DynamicRO', doc: '' },
      { name: 'secret', ty: t.string, qual: 'DynamicRO', doc: '', internal: true },
      { name: 'MTU', ty: t.int, qual: 'RW', doc: '', default: 1500 },
      { name: 'when', ty: t.datetime, qual: 'RW', doc: '' },
      { name: 'bridge_of', ty: t.ref('PIF'), qual: 'RW', doc: '' },
    ],
  };
  const lookup = (n: string) => (n === 'network' ? net : undefined);
  const call = { version: '2.0' as const, id: 0 };
  assert.equal(encodeJsonRpcResponse(call, { ok: true, value: { uuid: 'u', secret: 's' }, ty: t.record('network') }, lookup),
    '{"jsonrpc":"2.0","result":{"uuid":"u","MTU":1500,"when":"19700101T00:00:00Z","bridge_of":"OpaqueRef:NULL"},"id":0}');
  const ev = { events: [{ class: 'NETWORK', snapshot: { uuid: 'u', secret: 's', MTU: 9000, when: '2024-01-05T13:45:00Z' } }] };
  assert.deepEqual(JSON.parse(encodeJsonRpcResponse(call, { ok: true, value: ev, ty: t.any }, lookup)).result,
    { events: [{ class: 'NETWORK', snapshot: { uuid: 'u', MTU: 9000, when: '20240105T13:45:00Z', bridge_of: 'OpaqueRef:NULL' } }] });
});

// --- hostile input: limits checked in one pass before JSON.parse; errors stay short.

const call1 = (param: string) => `{"jsonrpc":"2.0","id":1,"method":"a","params":[${param}]}`;

function refused(body: string, re: RegExp, code = -32600): void {
  assert.throws(() => parseJsonRpcCall(body), (e: unknown) => {
    assert.ok(e instanceof RpcParseError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, re);
    assert.ok(e.message.length <= 400, `message of ${e.message.length} characters`);
    return true;
  });
}

test('limits: nesting depth, closed or not', () => {
  const max = DEFAULT_LIMITS.maxDepth;
  assert.equal(parseJsonRpcCall(call1('['.repeat(max) + ']'.repeat(max))).params.length, 1);
  assert.equal(parseJsonRpcCall(call1('{"a":'.repeat(max) + '0' + '}'.repeat(max))).params.length, 1);
  refused(call1('['.repeat(max + 1) + ']'.repeat(max + 1)), /nested deeper than 32/);
  refused(call1('{"a":'.repeat(max + 1) + '0' + '}'.repeat(max + 1)), /nested deeper than 32/);
  refused('['.repeat(1_000_000), /nested deeper than 32/);
  // Brackets inside strings are text, escaped quotes included.
  assert.deepEqual(parseJsonRpcCall(call1(`"${'[\\"{'.repeat(100)}"`)).params, ['[\"{'.repeat(100)]);
});

test('limits: numbers, strings, value count, method name', () => {
  refused(call1('9'.repeat(5000)), /a number longer than 32 characters/);
  refused(call1('-0.' + '1'.repeat(40)), /a number longer than 32/);
  assert.deepEqual(parseJsonRpcCall(call1('-1.2345678901234567e-308')).params, [-1.2345678901234567e-308]);
  const max = DEFAULT_LIMITS.maxString;
  assert.equal((parseJsonRpcCall(call1(`"${'a'.repeat(max)}"`)).params[0] as string).length, max);
  refused(call1(`"${'a'.repeat(max + 1)}"`), /a string longer than 65536 characters/);
  refused(`{"jsonrpc":"2.0","id":1,"method":"a","params":[{"${'k'.repeat(max + 1)}":1}]}`, /a string longer/);
  // Keys count as values: the envelope takes 9 (the object, 4 keys, 3 values, the params array).
  const items = DEFAULT_LIMITS.maxItems;
  const envelope = 9;
  assert.equal((parseJsonRpcCall(call1(`[${Array(items - envelope - 1).fill(0).join(',')}]`)).params[0] as unknown[]).length, items - envelope - 1);
  refused(call1(`[${Array(items - envelope).fill(0).join(',')}]`), /more than 20000 values/);
  refused(call1(`{${Array.from({ length: items / 2 }, (_, i) => `"${i}":0`).join(',')}}`), /more than 20000 values/);
  refused('{"jsonrpc":"2.0","id":1,"method":"' + 'm'.repeat(257) + '","params":[]}', /method name longer than 256/);
  refused(`{"jsonrpc":${JSON.stringify('v'.repeat(10_000))},"id":1,"method":"a"}`, /unsupported jsonrpc version "v+…/);
});

test('hostile bodies: garbage and truncation give short parse errors', () => {
  refused('x'.repeat(200_000), /^Parse error/, -32700);
  refused('\u0000\u00ff{', /^Parse error/, -32700);
  const full = call1('{"a":[1,"x",true,null]}');
  for (let cut = 0; cut < full.length; cut++) {
    assert.throws(() => parseJsonRpcCall(full.slice(0, cut)), (e: unknown) => e instanceof RpcParseError && e.message.length <= 400, `cut at ${cut}`);
  }
  refused(`{"id":1,"method":"a","params":["${'x'.repeat(60_000)}"`, /^Parse error/, -32700);
});
