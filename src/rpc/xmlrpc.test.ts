import { test } from 'node:test';
import assert from 'node:assert/strict';
import { t, type ClassDef } from '../idl/meta.js';
import { RpcParseError } from './errors.js';
import { encodeXmlRpcResponse, encodeXmlRpcValue, escapeXmlText, formatDouble, parseXmlRpcCall } from './xmlrpc.js';
import { DEFAULT_LIMITS } from './limits.js';

const PIF: ClassDef = {
  name: 'PIF', doc: '', messages: [], persistent: true,
  fields: [
    { name: 'uuid', ty: t.string, qual: 'DynamicRO', doc: '' },
    { name: 'MTU', ty: t.int, qual: 'DynamicRO', doc: '' },
    { name: 'device_name', ty: t.string, qual: 'DynamicRO', doc: '', internal: true },
    { name: 'currently_attached', ty: t.bool, qual: 'DynamicRO', doc: '' },
    { name: 'VLAN_slave_of', ty: t.set(t.ref('VLAN')), qual: 'DynamicRO', doc: '' },
    { name: 'other_config', ty: t.map(t.string, t.string), qual: 'RW', doc: '', default: {} },
    { name: 'ip_configuration_mode', ty: t.enumOf('ip_configuration_mode', ['None', 'DHCP', 'Static']), qual: 'DynamicRO', doc: '' },
  ],
};
const lookup = (n: string) => (n === 'PIF' ? PIF : undefined);
const none = () => undefined;

const HEAD = '<?xml version="1.0"?><methodResponse><params><param><value><struct>';
const TAIL = '</struct></value></param></params></methodResponse>';
const ok = (v: string) => `${HEAD}<member><name>Status</name><value>Success</value></member><member><name>Value</name>${v}</member>${TAIL}`;

test('success envelope is compact, byte for byte', () => {
  assert.equal(encodeXmlRpcResponse({ ok: true, value: 'OpaqueRef:abc', ty: t.ref('VLAN') }, none), ok('<value>OpaqueRef:abc</value>'));
  assert.ok(!/>\s+</.test(encodeXmlRpcResponse({ ok: true, value: { a: [1, 'x'] }, ty: t.any }, none)));
});

test('void result and empty string are <value></value>', () => {
  assert.equal(encodeXmlRpcResponse({ ok: true, value: null, ty: null }, none), ok('<value></value>'));
  assert.equal(encodeXmlRpcValue('', t.string, none), '<value></value>');
});

test('failure envelope carries ErrorDescription strings', () => {
  assert.equal(
    encodeXmlRpcResponse({ ok: false, error: ['VLAN_TAG_INVALID', '5000'] }, none),
    `${HEAD}<member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name>` +
    `<value><array><data><value>VLAN_TAG_INVALID</value><value>5000</value></data></array></value></member>${TAIL}`);
});

test('scalars: int bare text, double, boolean, datetime', () => {
  assert.equal(encodeXmlRpcValue(1500, t.int, none), '<value>1500</value>');
  assert.equal(encodeXmlRpcValue('9223372036854775807', t.int, none), '<value>9223372036854775807</value>');
  assert.equal(encodeXmlRpcValue(1e21, t.int, none), '<value>1000000000000000000000</value>');
  assert.equal(encodeXmlRpcValue(60.1, t.float, none), '<value><double>60.1</double></value>');
  assert.equal(encodeXmlRpcValue(1, t.float, none), '<value><double>1</double></value>');
  assert.equal(encodeXmlRpcValue(true, t.bool, none), '<value><boolean>1</boolean></value>');
  assert.equal(encodeXmlRpcValue(false, t.bool, none), '<value><boolean>0</boolean></value>');
  assert.equal(encodeXmlRpcValue('20240105T13:45:00Z', t.datetime, none), '<value><dateTime.iso8601>20240105T13:45:00Z</dateTime.iso8601></value>');
  assert.equal(encodeXmlRpcValue('2024-01-05T14:45:00+01:00', t.datetime, none), '<value><dateTime.iso8601>20240105T13:45:00Z</dateTime.iso8601></value>');
});

test('%.16g formatting', () => {
  assert.equal(formatDouble(0.1 + 0.2), '0.3');
  assert.equal(formatDouble(1 / 3), '0.3333333333333333');
  assert.equal(formatDouble(1e20), '1e+20');
  assert.equal(formatDouble(1.5e-7), '1.5e-07');
  assert.equal(formatDouble(123456.5), '123456.5');
  assert.equal(formatDouble(0), '0');
});

test('text escaping drops control characters, keeps TAB/LF, protects CR', () => {
  assert.equal(escapeXmlText('a&b<c>d"e\u0001f\tg\nh\ri'), 'a&amp;b&lt;c&gt;d&quot;ef\tg\nh&#13;i');
});

test('typed nulls travel as their zero', () => {
  assert.equal(encodeXmlRpcValue(null, t.ref('PIF'), none), '<value>OpaqueRef:NULL</value>');
  assert.equal(encodeXmlRpcValue(null, t.string, none), '<value></value>');
  assert.equal(encodeXmlRpcValue(null, t.int, none), '<value>0</value>');
  assert.equal(encodeXmlRpcValue(null, t.set(t.string), none), '<value><array><data></data></array></value>');
  assert.equal(encodeXmlRpcValue(null, t.map(t.string, t.string), none), '<value><struct></struct></value>');
});

test('set and map', () => {
  assert.equal(encodeXmlRpcValue(['OpaqueRef:a', 'OpaqueRef:b'], t.set(t.ref('VLAN')), none),
    '<value><array><data><value>OpaqueRef:a</value><value>OpaqueRef:b</value></data></array></value>');
  assert.equal(encodeXmlRpcValue([], t.set(t.string), none), '<value><array><data></data></array></value>');
  assert.equal(encodeXmlRpcValue({ k: 'v', e: '' }, t.map(t.string, t.string), none),
    '<value><struct><member><name>k</name><value>v</value></member><member><name>e</name><value></value></member></struct></value>');
  assert.equal(encodeXmlRpcValue({ a: 3 }, t.map(t.string, t.int), none),
    '<value><struct><member><name>a</name><value>3</value></member></struct></value>');
});

const pifRecordXml = '<value><struct>' +
  '<member><name>uuid</name><value>u1</value></member>' +
  '<member><name>MTU</name><value>1500</value></member>' +
  '<member><name>currently_attached</name><value><boolean>1</boolean></value></member>' +
  '<member><name>VLAN_slave_of</name><value><array><data><value>OpaqueRef:v</value></data></array></value></member>' +
  '<member><name>other_config</name><value><struct></struct></value></member>' +
  '<member><name>ip_configuration_mode</name><value>DHCP</value></member>' +
  '</struct></value>';
const pifRecord = { uuid: 'u1', MTU: 1500, device_name: 'eth0', currently_attached: true, VLAN_slave_of: ['OpaqueRef:v'], ip_configuration_mode: 'DHCP' };

test('record: one member per visible field, by field type, defaults filled, internal hidden', () => {
  assert.equal(encodeXmlRpcValue(pifRecord, t.record('PIF'), lookup), pifRecordXml);
  // map of records (get_all_records)
  assert.equal(encodeXmlRpcValue({ 'OpaqueRef:p': pifRecord }, t.map(t.ref('PIF'), t.record('PIF')), lookup),
    `<value><struct><member><name>OpaqueRef:p</name>${pifRecordXml}</member></struct></value>`);
});

test('any: inference, event snapshots as records, valid_ref_counts as i4', () => {
  const batch = {
    events: [{ id: '12', timestamp: '1.5', class: 'pif', operation: 'mod', ref: 'OpaqueRef:p', snapshot: pifRecord }],
    valid_ref_counts: { pif: 3 },
    token: '12,0',
  };
  assert.equal(encodeXmlRpcValue(batch, t.any, lookup),
    '<value><struct><member><name>events</name><value><array><data><value><struct>' +
    '<member><name>id</name><value>12</value></member>' +
    '<member><name>timestamp</name><value>1.5</value></member>' +
    '<member><name>class</name><value>pif</value></member>' +
    '<member><name>operation</name><value>mod</value></member>' +
    '<member><name>ref</name><value>OpaqueRef:p</value></member>' +
    `<member><name>snapshot</name>${pifRecordXml}</member>` +
    '</struct></value></data></array></value></member>' +
    '<member><name>valid_ref_counts</name><value><struct><member><name>pif</name><value><i4>3</i4></value></member></struct></value></member>' +
    '<member><name>token</name><value>12,0</value></member></struct></value>');
  assert.equal(encodeXmlRpcValue([1, 2.5, true, null, 'x'], t.any, none),
    '<value><array><data><value>1</value><value><double>2.5</double></value><value><boolean>1</boolean></value><value></value><value>x</value></data></array></value>');
});

// Exactly what Python's xmlrpc.client.dumps((...), 'VLAN.create') produces.
const PY_BODY = "<?xml version='1.0'?>\n<methodCall>\n<methodName>VLAN.create</methodName>\n<params>\n" +
  '<param>\n<value><string>OpaqueRef:sess</string></value>\n</param>\n' +
  '<param>\n<value><int>20</int></value>\n</param>\n' +
  '<param>\n<value><string>a &amp; b &lt;c&gt;</string></value>\n</param>\n' +
  '<param>\n<value><boolean>1</boolean></value>\n</param>\n' +
  '<param>\n<value><double>60.1</double></value>\n</param>\n' +
  '<param>\n<value><struct>\n<member>\n<name>name_label</name>\n<value><string>net</string></value>\n</member>\n' +
  '<member>\n<name>MTU</name>\n<value><int>9000</int></value>\n</member>\n</struct></value>\n</param>\n' +
  '<param>\n<value><array><data>\n<value><string>x</string></value>\n<value><int>1</int></value>\n</data></array></value>\n</param>\n' +
  '<param>\n<value><nil/></value></param>\n' +
  '<param>\n<value><dateTime.iso8601>20240105T13:45:00</dateTime.iso8601></value>\n</param>\n' +
  '<param>\n<value><base64>\naGVsbG8=\n</base64></value>\n</param>\n' +
  '<param>\n<value><string></string></value>\n</param>\n' +
  '</params>\n</methodCall>\n';

test('parses a Python-style pretty-printed request', () => {
  assert.deepEqual(parseXmlRpcCall(PY_BODY), {
    method: 'VLAN.create',
    params: ['OpaqueRef:sess', 20, 'a & b <c>', true, 60.1, { name_label: 'net', MTU: 9000 }, ['x', 1], null,
      '20240105T13:45:00', 'hello', ''],
  });
});

test('parses xen-api style compact requests with bare values', () => {
  const body = '<?xml version="1.0"?><methodCall><methodName>VLAN.create</methodName><params>' +
    '<param><value>OpaqueRef:s</value></param><param><value>100</value></param><param><value/></param>' +
    '<param><value></value></param><param><value>  two  spaces </value></param>' +
    '<param><value><i4>-7</i4></value></param><param><value><i8>9223372036854775807</i8></value></param>' +
    '<param><value><nil /></value></param></params></methodCall>';
  assert.deepEqual(parseXmlRpcCall(body).params,
    ['OpaqueRef:s', '100', '', '', '  two  spaces ', -7, '9223372036854775807', null]);
  assert.deepEqual(parseXmlRpcCall('<?xml version="1.0"?><methodCall><methodName>system.listMethods</methodName><params /></methodCall>'),
    { method: 'system.listMethods', params: [] });
  assert.deepEqual(parseXmlRpcCall('<methodCall><methodName>a.b</methodName></methodCall>'), { method: 'a.b', params: [] });
});

test('struct member named __proto__ stays an own property', () => {
  const p = parseXmlRpcCall('<methodCall><methodName>a</methodName><params><param><value><struct>' +
    '<member><name>__proto__</name><value>x</value></member></struct></value></param></params></methodCall>').params[0] as Record<string, unknown>;
  assert.deepEqual(Object.keys(p), ['__proto__']);
  assert.equal(Object.getPrototypeOf(p), Object.prototype);
});

test('malformed requests throw RpcParseError', () => {
  const bad = [
    '',
    'not xml',
    '<methodCall><methodName>a</methodName>',
    '<methodCall><params></params></methodCall>',
    '<methodCall><methodName></methodName></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><int>x</int></value></param></params></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><blob>x</blob></value></param></params></methodCall>',
    '<methodCall><methodName>a</methodName><params><param><value><string>a</string><int>1</int></value></param></params></methodCall>',
    '<!DOCTYPE x [<!ENTITY a "aaaa">]><methodCall><methodName>&a;</methodName></methodCall>',
    '<methodResponse><params/></methodResponse>',
  ];
  for (const b of bad) assert.throws(() => parseXmlRpcCall(b), RpcParseError, JSON.stringify(b));
});

test('round trip: what we encode, we parse back', () => {
  const value = { a: 'x', b: ['1', '2'], c: { d: '' } };
  const enc = encodeXmlRpcValue(value, t.any, none);
  const call = parseXmlRpcCall(`<methodCall><methodName>m</methodName><params><param>${enc}</param></params></methodCall>`);
  assert.deepEqual(call.params[0], value);
});

// --- hostile input: every limit is checked while reading, and the error never echoes much.

const call1 = (value: string) => `<methodCall><methodName>a</methodName><params><param>${value}</param></params></methodCall>`;

/** Asserts a parse error whose message matches `re` and stays short. */
function refused(body: string, re: RegExp): void {
  assert.throws(() => parseXmlRpcCall(body), (e: unknown) => {
    assert.ok(e instanceof RpcParseError, String(e));
    assert.match(e.message, re);
    assert.ok(e.message.length <= 400, `message of ${e.message.length} characters`);
    return true;
  });
}

test('limits: nesting depth', () => {
  const nest = (n: number) => call1('<value><array><data>'.repeat(n) + '<value/>' + '</data></array></value>'.repeat(n));
  assert.equal(parseXmlRpcCall(nest(DEFAULT_LIMITS.maxDepth)).params.length, 1);
  refused(nest(DEFAULT_LIMITS.maxDepth + 1), /nested deeper than 32/);
  const structs = (n: number) => call1('<value><struct><member><name>k</name>'.repeat(n) + '<value/>' + '</member></struct></value>'.repeat(n));
  assert.equal(parseXmlRpcCall(structs(DEFAULT_LIMITS.maxDepth)).params.length, 1);
  refused(structs(DEFAULT_LIMITS.maxDepth + 1), /nested deeper than 32/);
  // Unclosed, as deep as the body allows: refused at the first level too many.
  refused(call1('<value><array><data>'.repeat(100_000)), /nested deeper than 32/);
});

test('limits: unclosed and unknown tags are refused at the first one, with a short message', () => {
  refused('<a>'.repeat(100_000), /expected <methodCall> in <document>, found <a>/);
  refused(`<methodCall><methodName>a</methodName><params><param><value>${'<x>'.repeat(100_000)}`, /unsupported value type <x>/);
  refused(`<methodCall>${'<methodName>'.repeat(100_000)}`, /expected <\/methodName>|unexpected/);
  refused(`<${'x'.repeat(100_000)}>`, /found <x{64}…/);
});

test('limits: numbers longer than any int64 or double are refused before conversion', () => {
  for (const tag of ['int', 'i4', 'i8', 'double']) {
    refused(call1(`<value><${tag}>${'9'.repeat(5000)}</${tag}></value>`), new RegExp(`<${tag}> longer than 32 characters`));
  }
  refused(call1('<value><int>9223372036854775808</int></value>'), /out of the 64-bit range/);
  refused(call1('<value><i8>-9223372036854775809</i8></value>'), /out of the 64-bit range/);
  assert.deepEqual(parseXmlRpcCall(call1('<value><i8>-9223372036854775808</i8></value>')).params, ['-9223372036854775808']);
  assert.deepEqual(parseXmlRpcCall(call1('<value><double> -1.2345678901234567e-308 </double></value>')).params, [-1.2345678901234567e-308]);
});

test('limits: value count (arrays and structs alike)', () => {
  const max = DEFAULT_LIMITS.maxItems;
  const arr = (n: number) => call1(`<value><array><data>${'<value/>'.repeat(n - 1)}</data></array></value>`);
  assert.equal((parseXmlRpcCall(arr(max)).params[0] as unknown[]).length, max - 1);
  refused(arr(max + 1), /more than 20000 values/);
  const members = (n: number) => call1(`<value><struct>${Array.from({ length: n }, (_, i) => `<member><name>${i}</name><value/></member>`).join('')}</struct></value>`);
  // A member counts twice (name and value), the struct itself once.
  assert.equal(Object.keys(parseXmlRpcCall(members((max - 1) / 2 | 0)).params[0] as object).length, (max - 1) / 2 | 0);
  refused(members(max / 2), /more than 20000 values/);
});

test('limits: string length, entities included', () => {
  const max = DEFAULT_LIMITS.maxString;
  assert.equal((parseXmlRpcCall(call1(`<value>${'&amp;'.repeat(max)}</value>`)).params[0] as string).length, max);
  refused(call1(`<value>${'a'.repeat(max + 1)}</value>`), /text in <value> longer than 65536 characters/);
  refused(call1(`<value><string>${'a'.repeat(max)}<![CDATA[b]]></string></value>`), /text in <string> longer than 65536/);
  refused(call1(`<value><struct><member><name>${'n'.repeat(max + 1)}</name><value/></member></struct></value>`), /text in <name> longer/);
  refused(`<methodCall><methodName>${'m'.repeat(257)}</methodName></methodCall>`, /method name longer than 256/);
});

test('hostile bodies: garbage, truncation, entities, declarations', () => {
  refused('\u0000\u00ff garbage', /expected an element/);
  refused('', /unexpected end of document/);
  const full = call1('<value><struct><member><name>a</name><value><int>1</int></value></member></struct></value>');
  for (let cut = 1; cut < full.length; cut++) assert.throws(() => parseXmlRpcCall(full.slice(0, cut)), RpcParseError, `cut at ${cut}`);
  refused(call1(`<value>${'&'.repeat(100_000)}</value>`), /bare & "&&&&&&&&&&&&"/);
  refused(call1('<value>&nbsp;</value>'), /invalid entity/);
  refused(call1('<value>&#0;</value>'), /invalid entity/);
  refused(call1('<value>&#xD800;</value>'), /invalid entity/);
  refused('<!DOCTYPE x><methodCall><methodName>a</methodName></methodCall>', /DOCTYPE/);
  refused(call1('<value><![CDATA[x</value>'), /unterminated CDATA/);
  refused(`<methodCall><methodName>a</methodName></methodCall>${'<x/>'.repeat(10)}`, /content after <\/methodCall>/);
  // What a lenient reader keeps: comments, PIs, attributes, CDATA, character references.
  assert.deepEqual(parseXmlRpcCall('\uFEFF<?xml version="1.0"?><!-- hi --><methodCall a="1"><methodName>m</methodName><params>' +
    '<param><value>x<!-- c --><![CDATA[<y>]]>&#65;&#x42;&apos;</value></param></params></methodCall>\n'),
  { method: 'm', params: ["x<y>AB'"] });
});
