import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonFramer, FramingError } from './framer.js';

const values: unknown[] = [
  { id: 1, result: ['Open_vSwitch', '_Server'], error: null },
  { method: 'update2', params: ['m1', { Bridge: { 'a-b': { modify: { name: 'br{0}' } } } }], id: null },
  { id: 'echo', method: 'echo', params: [] },
  { s: 'quote \" and backslash \\\\ and } ] { [ inside', n: -1.5e3, t: true, z: null },
  { u: 'héllo wörld — ünïcödé 😀 中文', nested: [[[{}]], [], {}] },
  [1, 2, [3, '\\'], '\\"'],
];
const wire = Buffer.from(values.map((v) => JSON.stringify(v)).join(''), 'utf8');

function feedAll(framer: JsonFramer, chunks: Buffer[]): unknown[] {
  const out: unknown[] = [];
  for (const c of chunks) out.push(...framer.push(c));
  return out;
}

test('one chunk with several back-to-back values', () => {
  assert.deepEqual(new JsonFramer().push(wire), values);
});

test('every split point of the stream (two chunks) yields the same values', () => {
  for (let i = 0; i <= wire.length; i++) {
    const got = feedAll(new JsonFramer(), [wire.subarray(0, i), wire.subarray(i)]);
    assert.deepEqual(got, values, `split at ${i}`);
  }
});

test('one byte at a time, including inside multi-byte UTF-8 sequences', () => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < wire.length; i++) chunks.push(wire.subarray(i, i + 1));
  assert.deepEqual(feedAll(new JsonFramer(), chunks), values);
});

test('irregular chunk sizes, and the caller reusing its buffer', () => {
  const f = new JsonFramer();
  const out: unknown[] = [];
  const scratch = Buffer.alloc(16);
  let sizes = [1, 7, 3, 16, 2, 11, 5];
  for (let off = 0, k = 0; off < wire.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, wire.length - off);
    wire.copy(scratch, 0, off, off + n);
    out.push(...f.push(scratch.subarray(0, n)));
    scratch.fill(0x7b); // would corrupt the framer if it kept a view on our buffer
    off += n;
  }
  assert.deepEqual(out, values);
  assert.equal(f.pending, false);
});

test('whitespace between values is skipped; a partial value is reported as pending', () => {
  const f = new JsonFramer();
  assert.deepEqual(f.push(' \n{"a":1}\r\n\t {"b"'), [{ a: 1 }]);
  assert.equal(f.pending, true);
  assert.deepEqual(f.push(':2}'), [{ b: 2 }]);
  assert.equal(f.pending, false);
});

test('garbage between values is a FramingError', () => {
  assert.throws(() => new JsonFramer().push('{"a":1}x{}'), FramingError);
  assert.throws(() => new JsonFramer().push('{"a":}'), FramingError);
});

test('oversized values are refused', () => {
  const f = new JsonFramer({ maxValueBytes: 10 });
  assert.throws(() => f.push('{"aaaaaaaaaaaaaaaa'), FramingError);
  // and the framer is usable again afterwards
  assert.deepEqual(f.push('{"a":1}'), [{ a: 1 }]);
});
