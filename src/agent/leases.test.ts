import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileHost } from './desired.js';
import { dhcpDevices, withLeases } from './leases.js';
import { planChanges } from '../backends/ovs/plan.js';
import { emptyObserved } from '../backends/ovs/model.js';
import { ovsRows } from '../backends/ovs/rows.js';
import { defined } from '../common/defined.js';
import { PoolBuilder } from './pool-builder.js';

const HU = '11111111-2222-3333-4444-555555555555';

test('a DHCP management PIF: address, default route and DNS from its lease; none without a lease', () => {
  const b = new PoolBuilder();
  const h = b.host(HU);
  b.physical(h, 'eth0', b.network('xenbr0'), { mode: 'DHCP', management: true, other_config: { domain: 'corp.test' } });
  b.physical(h, 'eth1', b.network('xenbr1'), { mode: 'Static', IP: '198.51.100.5', netmask: '255.255.255.0' });
  const cfg = compileHost(b.records, h);
  assert.deepEqual(dhcpDevices(cfg), ['xenbr0']);
  assert.deepEqual(cfg.doc.dhcpGateway?.dev, 'xenbr0');
  const none = withLeases(cfg, () => undefined);
  assert.deepEqual(none.doc.addresses.find((i) => i.dev === 'xenbr0')?.addrs, []);
  assert.equal(none.doc.gateway, undefined);
  assert.equal(none.doc.dns, undefined);
  const observed = emptyObserved();
  observed.links.set('xenbr0', { name: 'xenbr0', up: true, mtu: 1500, mac: '02:00:00:00:00:01', addrs: ['192.0.2.51/24'] });
  observed.defaultRoute = { dev: 'xenbr0', via: '192.0.2.1' };
  assert.equal(planChanges(ovsRows(none.doc, ''), observed).some((a) => a.kind === 'addr-del'), false, 'no lease yet: the address the bridge holds stays');
  const leased = withLeases(cfg, (d) => (d === 'xenbr0' ? { ip: '192.0.2.150', prefix: 24, router: '192.0.2.1', dns: ['192.0.2.1'], search: ['lab.test'] } : undefined));
  assert.deepEqual(leased.doc.addresses.find((i) => i.dev === 'xenbr0')?.addrs, ['192.0.2.150/24']);
  assert.deepEqual(leased.doc.gateway, { dev: 'xenbr0', via: '192.0.2.1', owner: defined(cfg.doc.dhcpGateway, 'dhcpGateway').owner });
  assert.deepEqual(leased.doc.dns, { servers: ['192.0.2.1'], search: ['corp.test', 'lab.test'], owner: defined(cfg.doc.dhcpDns, 'dhcpDns').owner });
  const plan = planChanges(ovsRows(leased.doc, ''), observed).map((a) => a.kind === 'addr-del' || a.kind === 'addr-add' ? `${a.kind} ${a.cidr}` : a.kind);
  // The route observed is the one wanted, but deleting the old address removes it: set again, last.
  const at = (x: string) => plan.indexOf(x);
  assert.ok(at('addr-del 192.0.2.51/24') >= 0 && at('addr-del 192.0.2.51/24') < at('addr-add 192.0.2.150/24') && at('route-default') === plan.length - 1, plan.join(', '));
});
