// The flow serialiser and the locking rules: no value, however hostile, adds a rule, a match or
// an action; every flow written is one line of the strict grammar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { cookieMatch, formatFlow, formatFlows, FlowError, type Flow } from './flows.js';
import { lockFlows } from './locking.js';
import type { LockSpec } from './model.js';

const MAC = [2, 0, 0, 0, 0, 1];
const ok: Flow = { cookie: 1, priority: 6000, inPort: 7, proto: 'ip', match: [{ field: 'dl_src', mac: MAC }, { field: 'nw_src', net: { bytes: [10, 0, 0, 9], len: 32 } }], action: 'normal' };

test('a typed flow is written canonically', () => {
  assert.equal(formatFlow(ok), 'cookie=0x1,priority=6000,in_port=7,ip,dl_src=02:00:00:00:00:01,nw_src=10.0.0.9,actions=normal');
  const v6: Flow = { ...ok, proto: 'icmp6', match: [{ field: 'icmp_type', type: 136 }, { field: 'nd_target', net: { bytes: [0xfe, 0x80, ...new Array(13).fill(0), 1], len: 64 } }] };
  assert.equal(formatFlow(v6), 'cookie=0x1,priority=6000,in_port=7,icmp6,icmp_type=136,nd_target=fe80:0:0:0:0:0:0:0/64,actions=normal');
  assert.equal(formatFlow({ ...ok, match: [{ field: 'nw_src', net: { bytes: [10, 1, 2, 3], len: 23 } }] }),
    'cookie=0x1,priority=6000,in_port=7,ip,nw_src=10.1.2.0/23,actions=normal', 'host bits are masked off');
  assert.equal(cookieMatch(1, 12), 'cookie=0x1/-1,in_port=12');
});

test('the serialiser refuses every value outside its type', () => {
  const bad: [string, unknown][] = [
    ['in_port 0', { ...ok, inPort: 0 }], ['in_port reserved', { ...ok, inPort: 0xff00 }], ['in_port fraction', { ...ok, inPort: 1.5 }],
    ['in_port as text', { ...ok, inPort: '7,actions=drop' }], ['in_port negative', { ...ok, inPort: -1 }],
    ['priority', { ...ok, priority: 65536 }], ['cookie', { ...ok, cookie: -1 }], ['cookie big', { ...ok, cookie: 2 ** 32 }],
    ['protocol', { ...ok, proto: 'ip,actions=drop' }], ['protocol newline', { ...ok, proto: 'ip\nin_port=1' }],
    ['action newline', { ...ok, action: 'drop\ncookie=0x1,in_port=1,actions=normal' }], ['action output', { ...ok, action: 'output:1' }],
    ['action list', { ...ok, action: 'normal,output:2' }], ['action controller', { ...ok, action: 'controller' }],
    ['mac length', { ...ok, match: [{ field: 'dl_src', mac: [1, 2, 3, 4, 5, 6, 7] }] }],
    ['mac byte', { ...ok, match: [{ field: 'dl_src', mac: [256, 0, 0, 0, 0, 1] }] }],
    ['mac text', { ...ok, match: [{ field: 'dl_src', mac: '02:00:00:00:00:01,actions=drop' }] }],
    ['address bytes', { ...ok, match: [{ field: 'nw_src', net: { bytes: [10, 0, 0], len: 32 } }] }],
    ['address text', { ...ok, match: [{ field: 'nw_src', net: { bytes: '10.0.0.1\nx', len: 32 } }] }],
    ['address byte', { ...ok, match: [{ field: 'nw_src', net: { bytes: [10, 0, 0, -1], len: 32 } }] }],
    ['prefix', { ...ok, match: [{ field: 'nw_src', net: { bytes: [10, 0, 0, 1], len: 33 } }] }],
    ['prefix text', { ...ok, match: [{ field: 'nw_src', net: { bytes: [10, 0, 0, 1], len: '8,actions=drop' } }] }],
    ['v4 in a v6 field', { ...ok, proto: 'ipv6', match: [{ field: 'ipv6_src', net: { bytes: [10, 0, 0, 1], len: 32 } }] }],
    ['field actions', { ...ok, match: [{ field: 'actions', mac: MAC }] }], ['field proto', { ...ok, match: [{ field: '__proto__' }] }],
    ['field constructor', { ...ok, match: [{ field: 'constructor' }] }], ['match not a list', { ...ok, match: 'nw_src=1.2.3.4' }],
    ['prerequisite', { ...ok, proto: 'ip', match: [{ field: 'nd_target', net: { bytes: new Array(16).fill(0), len: 128 } }] }],
    ['port', { ...ok, proto: 'udp', match: [{ field: 'tp_dst', port: 65536 }] }], ['icmp type', { ...ok, proto: 'icmp6', match: [{ field: 'icmp_type', type: '135 ' }] }],
  ];
  for (const [what, flow] of bad) assert.throws(() => formatFlow(flow as Flow), FlowError, what);
  assert.throws(() => formatFlows([ok, { ...ok, action: 'drop ' } as unknown as Flow]), FlowError, 'one bad flow fails the whole text');
  assert.throws(() => cookieMatch(1, 0), FlowError);
});

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function rng(seed: number) {
  return () => { seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32; };
}

test('property: for random and hostile allowed addresses the text has exactly the expected rules', () => {
  const rand = rng(20240601);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const pieces = ['\n', ',', '=', ' ', '\t', 'actions', 'actions=drop', 'in_port=1', 'output:1', ';', '/', ':', '::', '.', '0', '1', '10', '255',
    '256', 'ff', 'fe80', 'a', '%eth0', '/24', '/33', '/129', '\r', '"', "'", '\\', '#', 'cookie=0x1', '\u0000', 'ip', '-'];
  const valid4 = ['10.0.0.1', '192.168.7.0/24', '0.0.0.0/0', '255.255.255.255'];
  const valid6 = ['fe80::1', '2001:db8::/32', '::', '::ffff:10.0.0.1', '1:2:3:4:5:6:7:8/128'];
  // The oracle is node's own parser (without zone ids), not the code under test.
  const prefixOk = (p: string | undefined, max: number) => p === undefined || (/^(0|[1-9]\d*)$/.test(p) && Number(p) <= max);
  const oracle = (s: string, fam: 4 | 6) => {
    const [a, p, extra] = s.split('/');
    return extra === undefined && (fam === 4 ? isIPv4(a!) : isIPv6(a!) && !a!.includes('%')) && prefixOk(p, fam === 4 ? 32 : 128);
  };
  for (let round = 0; round < 400; round++) {
    const gen = (valid: string[]) => Array.from({ length: Math.floor(rand() * 5) }, () => {
      const r = rand();
      if (r < 0.3) return pick(valid);
      if (r < 0.6) return pick(valid) + pick(pieces) + (rand() < 0.5 ? pick(valid) : ''); // a valid value with something appended
      return Array.from({ length: 1 + Math.floor(rand() * 6) }, () => pick(pieces)).join('');
    });
    const spec: LockSpec = { owner: 'OpaqueRef:v', port: 'vif1.0', bridge: 'xapi1', mac: '02:00:00:00:00:01', ipv4: gen(valid4), ipv6: gen(valid6) };
    const n4 = spec.ipv4.filter((s) => oracle(s, 4)).length;
    const n6 = spec.ipv6.filter((s) => oracle(s, 6)).length;
    const text = formatFlows(lockFlows(spec, 7));
    const lines = text.split('\n');
    assert.equal(lines.pop(), '', 'the text ends with one newline');
    assert.equal(lines.length, 2 + 2 * n4 + 3 * n6 + 1, JSON.stringify(spec));
    for (const l of lines) {
      assert.match(l, /^cookie=0x1,priority=\d+,in_port=7,[a-z0-9_=,.:/]+$/, l);
      assert.equal(l.split('actions=').length, 2, `one action list: ${l}`);
      assert.equal(l.split('in_port=').length, 2, `one in_port: ${l}`);
      assert.match(l, /,actions=(normal|drop)$/);
    }
    assert.equal(lines.at(-1), 'cookie=0x1,priority=4000,in_port=7,actions=drop', 'the drop rule closes the set');
  }
});

test('a locked port with a MAC that does not parse gets only the drop rule', () => {
  for (const mac of ['', '02:00:00:00:00:01,actions=normal', '02:00:00:00:00:01\n', 'zz:00:00:00:00:01']) {
    const flows = lockFlows({ owner: 'r', port: 'vif1.0', bridge: 'xapi1', mac, ipv4: ['10.0.0.1'], ipv6: [] }, 3);
    assert.equal(formatFlows(flows), 'cookie=0x1,priority=4000,in_port=3,actions=drop\n');
  }
});
