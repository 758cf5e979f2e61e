import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapParams, parseArgv, splitExtraArgs, parseBool, parseEnum, parseIntParam, splitList, getCaseless } from './args.js';

test('tokens are classified as the real xe does', () => {
  const a = parseArgv(['-s', 'h1', '-p', '8080', '-u', 'root', '-pw', 'x=y', 'network-create', 'name-label=a=b', '--minimal', 'other-config:mtu=9000']);
  assert.deepEqual(a.conn, { server: 'h1', port: '8080', user: 'root', password: 'x=y' });
  assert.equal(a.command, 'network-create');
  assert.deepEqual([...a.params], [['name-label', 'a=b'], ['minimal', 'true'], ['other-config:mtu', '9000']]);
});

test('-h is a synonym of -s, -pwf takes a file, bare words after the command are kept', () => {
  const a = parseArgv(['help', 'vlan-create', '-h', 'srv', '-pwf', '/tmp/pw']);
  assert.equal(a.command, 'help');
  assert.deepEqual(a.words, ['vlan-create']);
  assert.deepEqual(a.conn, { server: 'srv', passwordFile: '/tmp/pw' });
});

test('a flag without its value, or a switch xe does not know, is a syntax error', () => {
  assert.deepEqual(parseArgv(['vm-list', '-u']).problem, { kind: 'syntax' });
  assert.deepEqual(parseArgv(['vm-list', '-x', 'y']).problem, { kind: 'syntax' });
  assert.deepEqual(parseArgv(['name=x', 'vm-list']).problem, { kind: 'syntax' });
  assert.equal(parseArgv(['vm-list', '--x']).problem, undefined);
});

test('a value may be empty, and a later duplicate wins', () => {
  const a = parseArgv(['x', 'a=', 'b=1', 'b=2']);
  assert.equal(a.params.get('a'), '');
  assert.equal(a.params.get('b'), '2');
});

test('booleans accept the xe spellings in any case', () => {
  for (const s of ['true', 'T', 'yes', 'Y', '1']) assert.equal(parseBool('x', s), true);
  for (const s of ['false', 'F', 'No', 'n', '0']) assert.equal(parseBool('x', s), false);
  assert.throws(() => parseBool('managed', 'maybe'), /Failed to parse parameter 'managed'/);
});

test('enums match caselessly and name the choices on failure', () => {
  assert.equal(parseEnum(['None', 'DHCP', 'Static'], 'dhcp'), 'DHCP');
  assert.equal(parseEnum(['balance-slb', 'active-backup', 'lacp'], 'LACP'), 'lacp');
  assert.throws(() => parseEnum(['None', 'DHCP', 'Static'], 'auto'),
    { message: "Expected one of 'None', 'DHCP', 'Static', got auto" });
});

test('integers', () => {
  assert.equal(parseIntParam('vlan', '10'), 10);
  assert.equal(parseIntParam('vlan', '-1'), -1);
  assert.throws(() => parseIntParam('vlan', 'ten'), { message: "Failed to parse parameter 'vlan': expecting an integer" });
});

test('XE_EXTRA_ARGS splits at commas that are not escaped, then drops the backslashes', () => {
  assert.deepEqual(splitExtraArgs('a=1,b=x\\,y,,-s,h,'), ['a=1', 'b=x,y', '-s', 'h']);
  assert.deepEqual(splitExtraArgs(''), []);
  const a = parseArgv(['net-list', 'p=line'], splitExtraArgs('-s,srv,p=extra,q=extra'));
  assert.equal(a.conn.server, 'srv');
  assert.deepEqual([...a.params], [['p', 'line'], ['q', 'extra']]);
});

test('map parameters and caseless keys', () => {
  const p = new Map([['properties:lacp-time', 'fast'], ['properties:hashing_algorithm', 'src_mac'], ['ip', '10.0.0.1']]);
  assert.deepEqual(mapParams(p, 'properties'), { 'lacp-time': 'fast', hashing_algorithm: 'src_mac' });
  // The legacy map-key=value form the real xe still reads.
  assert.deepEqual(mapParams(new Map([['properties-mode', 'x'], ['propertiesx', 'y'], ['properties-', 'z']]), 'properties'), { mode: 'x' });
  assert.equal(getCaseless(p, 'IP'), '10.0.0.1');
});

test('comma lists honour --minimal escapes', () => {
  assert.deepEqual(splitList('a,b\\,c,d\\\\'), ['a', 'b,c', 'd\\']);
  assert.deepEqual(splitList(''), []);
});
