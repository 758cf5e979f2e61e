import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBrctl } from './bridges.js';

test('brctl show layout: header, first interface on the bridge line, the others below', () => {
  const text = formatBrctl([{ name: 'xenbr0', id: 'd8:9d:67:24:d8:40', stp: false, interfaces: ['eth0', 'vif10.0', 'vif8.0'] },
    { name: 'xapi0', id: '0123456789abcdef', stp: false, interfaces: [] }]);
  assert.equal(text, 'bridge name\tbridge id\t\tSTP enabled\tinterfaces\n' +
    'xenbr0\t\t8000.d89d6724d840\tno\t\teth0\n' +
    '\t\t\t\t\t\t\tvif10.0\n' +
    '\t\t\t\t\t\t\tvif8.0\n' +
    'xapi0\t\t8000.0123456789ab\tno\t\t\n');
});
