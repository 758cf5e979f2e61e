// The parsers of `xcpnet trace`: what ovs-appctl prints (OVS 3.1, userspace datapath) → port names and actions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDatapathActions, parseDpifShow } from './trace.js';

test('dpif/show: datapath port numbers name interfaces, per bridge', () => {
  const ports = parseDpifShow(['netdev@ovs-netdev: hit:300 missed:488', '  xapi3:', '    td30d87.66fda6 1/12: (vxlan: key=1, remote_ip=192.0.2.12)',
    '    vif3.0 2/13: (system)', '    xapi3 65534/11: (tap)', '  xenbr0:', '    eth0 1/2: (system)', '    xenbr0 65534/1: (tap)'].join('\n'));
  assert.deepEqual(ports.get(13), { name: 'vif3.0', bridge: 'xapi3' });
  assert.deepEqual(ports.get(2), { name: 'eth0', bridge: 'xenbr0' });
  assert.equal(ports.get(12)?.name, 'td30d87.66fda6');
  assert.equal(ports.size, 5);
});

test('datapath actions: outputs with the VLAN they carry, a tunnel push and its outer frame, drop', () => {
  assert.deepEqual(parseDatapathActions('Datapath actions: push_vlan(vid=10,pcp=0),4,pop_vlan,9'),
    [{ kind: 'output', port: 4, vlan: 10 }, { kind: 'output', port: 9 }]);
  assert.deepEqual(parseDatapathActions('Datapath actions: 4,pop_vlan,9', 10), [{ kind: 'output', port: 4, vlan: 10 }, { kind: 'output', port: 9 }], 'a frame that came in tagged');
  assert.deepEqual(parseDatapathActions('Final flow: unchanged\nDatapath actions: drop\n'), [{ kind: 'drop' }]);
  const tun = parseDatapathActions('Datapath actions: tnl_push(tnl_port(12),header(size=50,type=4,eth(dst=9a:1e:d1:0c:69:ff,src=62:02:46:0e:23:47,dl_type=0x0800),' +
    'ipv4(src=192.0.2.11,dst=192.0.2.12,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x1)),out_port(1)),2');
  assert.deepEqual(tun, [
    { kind: 'tunnel', src: '192.0.2.11', dst: '192.0.2.12', key: 1, protocol: 'vxlan', outerDstMac: '9a:1e:d1:0c:69:ff', outerSrcMac: '62:02:46:0e:23:47' },
    { kind: 'output', port: 2, outer: { srcMac: '62:02:46:0e:23:47', dstMac: '9a:1e:d1:0c:69:ff', srcIp: '192.0.2.11', dstIp: '192.0.2.12' } },
  ]);
});
