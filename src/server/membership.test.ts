// A joiner's description comes from another machine: every field is checked before the master
// writes anything (pool.admit_host).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../common/api-error.js';
import { JOIN_MAX_PIFS, parseJoiner } from './membership.js';

const pif = (i: number, extra: Record<string, unknown> = {}) => ({
  uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, device: `eth${i}`, MAC: `02:00:00:00:00:${(i % 256).toString(16).padStart(2, '0')}`,
  MTU: 1500, management: false, ip_configuration_mode: 'None', IP: '', netmask: '', gateway: '', DNS: '', ...extra,
});
const joiner = (extra: Record<string, unknown> = {}) => ({
  uuid: '11111111-1111-4111-8111-111111111111', name_label: 'h', hostname: 'h', address: '192.0.2.5',
  API_version_major: 2, API_version_minor: 23, PIFs: [pif(0, { management: true, ip_configuration_mode: 'Static', IP: '192.0.2.5', netmask: '255.255.255.0' })],
  ...extra,
});

const invalid = (v: unknown, field: string): void => {
  assert.throws(() => parseJoiner(v as never), (e: unknown) => ApiError.is(e) && e.code === 'INVALID_VALUE' && e.params[0] === field, field);
};

test('a well-formed joiner passes', () => {
  const j = parseJoiner(joiner() as never);
  assert.equal(j.PIFs[0]!.device, 'eth0');
  assert.equal(j.PIFs[0]!.currently_attached, true, 'the management PIF is attached');
});

test('every field of a joiner is checked', () => {
  invalid('x', 'joiner');
  invalid([], 'joiner');
  invalid(joiner({ uuid: 'not-a-uuid' }), 'joiner.uuid');
  invalid(joiner({ address: '1.2.3' }), 'joiner.address');
  invalid(joiner({ name_label: 'x'.repeat(256) }), 'joiner.name_label');
  invalid(joiner({ API_version_major: 'two' }), 'joiner.API_version_major');
  invalid(joiner({ PIFs: {} }), 'joiner.PIFs');
  invalid(joiner({ PIFs: Array.from({ length: JOIN_MAX_PIFS + 1 }, (_, i) => pif(i)) }), 'joiner.PIFs');
  invalid(joiner({ PIFs: [pif(1, { device: 'eth1; reboot' })] }), 'joiner.device');
  invalid(joiner({ PIFs: [pif(1), pif(1)] }), 'joiner.PIFs.device');
  invalid(joiner({ PIFs: [pif(1, { MAC: 'zz' })] }), 'joiner.MAC');
  invalid(joiner({ PIFs: [pif(1, { MTU: 10 })] }), 'joiner.MTU');
  invalid(joiner({ PIFs: [pif(1, { ip_configuration_mode: 'Bogus' })] }), 'joiner.ip_configuration_mode');
  invalid(joiner({ PIFs: [pif(1, { DNS: '1.1.1.1,x' })] }), 'joiner.DNS');
  invalid(joiner({ PIFs: [pif(1, { management: true }), pif(2, { management: true })] }), 'joiner.PIFs.management');
});
