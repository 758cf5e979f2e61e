import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeMinimal, formatFloat, formatMap, formatMinimal, formatRecord, type Row } from './layout.js';

const row = (name: string, marker: Row['marker'], value: string): Row => ({ name, marker, value });

test('first label padded right, others left, to 4 + the longest; two blank lines after', () => {
  const text = formatRecord([
    row('uuid', '( RO)', '0c3f9d7e-2a51-4b8e-9f3d-6e1a2b7c8d90'),
    row('name-label', '( RW)', 'Pool-wide network associated with eth0'),
    row('name-description', '( RW)', ''),
    row('bridge', '( RO)', 'xenbr0'),
  ]);
  assert.equal(text, [
    'uuid ( RO)                : 0c3f9d7e-2a51-4b8e-9f3d-6e1a2b7c8d90',
    '          name-label ( RW): Pool-wide network associated with eth0',
    '    name-description ( RW): ',
    '              bridge ( RO): xenbr0',
    '', '', '',
  ].join('\n'));
});

test('the width follows the longest label of each record (pif-list example)', () => {
  const text = formatRecord([
    row('uuid', '( RO)', 'u'),
    row('device', '( RO)', 'eth0'),
    row('currently-attached', '( RO)', 'true'),
  ]);
  assert.equal(text, 'uuid ( RO)                  : u\n                device ( RO): eth0\n    currently-attached ( RO): true\n\n\n');
});

test('deprecated fields get a suffix in the label', () => {
  const text = formatRecord([{ name: 'vswitch-controller', marker: '( RO)', deprecated: true, value: '' }]);
  assert.equal(text, 'vswitch-controller ( RO) [DEPRECATED]    : \n\n\n');
});

test('--minimal escapes commas and backslashes and ends with a newline', () => {
  assert.equal(escapeMinimal('a,b\\c'), 'a\\,b\\\\c');
  assert.equal(formatMinimal(['u1', 'x,y']), 'u1,x\\,y\n');
  assert.equal(formatMinimal([]), '\n');
});

test('maps and floats', () => {
  assert.equal(formatMap({ folder: '/lab', 'static-routes': '10.9.0.0/16/10.20.0.1' }), 'folder: /lab; static-routes: 10.9.0.0/16/10.20.0.1');
  assert.equal(formatMap({}), '');
  assert.equal(formatFloat(0), '0.000');
  assert.equal(formatFloat(1.23456), '1.235');
});
