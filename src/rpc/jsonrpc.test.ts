import { test } from 'node:test';
import assert from 'node:assert/strict';
import { t, type ClassDef } from '../idl/meta.js';
import { RpcParseError } from './errors.js';
import { encodeJsonRpcParseError, encodeJsonRpcResponse, parseJsonRpcCall } from './jsonrpc.js';

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
