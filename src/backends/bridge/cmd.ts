// Operations → iproute2 argv. Every value is checked again here, as src/backends/linux/ip.ts
// does, and becomes exactly one argument: names are Linux interface names (never an option or a
// path), numbers are integers in range, addresses parse. Anything else is an IpError and no
// command runs. No shell is ever involved.
import { isIfName, isIPv4, isMac, parseIPv4Cidr } from '../../common/net-syntax.js';
import { IpError } from '../linux/ip.js';
import type { Op } from './model.js';

function check(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new IpError([], `invalid ${what} ${JSON.stringify(value)}`);
}
const dev = (d: string) => { check(isIfName(d), 'interface name', d); return d; };
const uint = (n: number, max: number, what: string) => { check(Number.isInteger(n) && n >= 0 && n <= max, what, n); return String(n); };
const oneOf = (v: string, values: readonly string[], what: string) => { check(values.includes(v), what, v); return v; };

export const VXLAN_PORT = 4789;

/** Pure: the argv of `ip` for one operation (without -n NS); a move is an `ip -batch` of its own. */
export function argvOf(o: Exclude<Op, { op: 'move-l3' }>): string[] {
  switch (o.op) {
    case 'add-bridge': return ['link', 'add', 'name', dev(o.name), 'type', 'bridge', 'stp_state', '0'];
    case 'add-bond': {
      const argv = ['link', 'add', 'name', dev(o.name), 'type', 'bond', 'mode', oneOf(o.mode, ['active-backup', 'balance-tlb', '802.3ad'], 'bond mode'),
        'miimon', uint(o.miimon, 0x7fffffff, 'miimon'), 'updelay', uint(o.updelay, 0x7fffffff, 'updelay'), 'downdelay', uint(o.downdelay, 0x7fffffff, 'downdelay')];
      if (o.xmitHashPolicy) argv.push('xmit_hash_policy', oneOf(o.xmitHashPolicy, ['layer2', 'layer3+4'], 'hash policy'));
      if (o.lacpRate) argv.push('lacp_rate', oneOf(o.lacpRate, ['fast', 'slow'], 'LACP rate'));
      return argv;
    }
    case 'add-vlan': return ['link', 'add', 'link', dev(o.lower), 'name', dev(o.name), 'type', 'vlan', 'id', uint(o.tag, 4094, 'VLAN tag')];
    case 'add-tunnel': {
      check(isIPv4(o.remote), 'remote address', o.remote);
      const key = uint(o.key, 0xffffff, 'tunnel key');
      return o.protocol === 'vxlan'
        ? ['link', 'add', 'name', dev(o.name), 'type', 'vxlan', 'id', key, 'remote', o.remote, 'dstport', String(VXLAN_PORT)]
        : ['link', 'add', 'name', dev(o.name), 'type', 'gretap', 'remote', o.remote, 'key', key];
    }
    case 'del': return ['link', 'del', 'dev', dev(o.name)];
    case 'mark': check(/^xcpnet:[0-9a-fA-F-]{36}$/.test(o.alias), 'marker', o.alias); return ['link', 'set', 'dev', dev(o.name), 'alias', o.alias];
    case 'mtu': return ['link', 'set', 'dev', dev(o.name), 'mtu', uint(o.mtu, 65535, 'MTU')];
    case 'mac': check(isMac(o.mac), 'MAC', o.mac); return ['link', 'set', 'dev', dev(o.name), 'address', o.mac];
    case 'master': return ['link', 'set', 'dev', dev(o.name), 'master', dev(o.master)];
    case 'nomaster': return ['link', 'set', 'dev', dev(o.name), 'nomaster'];
    case 'down': return ['link', 'set', 'dev', dev(o.name), 'down'];
    case 'up': return ['link', 'set', 'dev', dev(o.name), 'up'];
    case 'mcast-snooping': return ['link', 'set', 'dev', dev(o.name), 'type', 'bridge', 'mcast_snooping', o.on ? '1' : '0'];
    case 'isolated': return ['link', 'set', 'dev', dev(o.name), 'type', 'bridge_slave', 'isolated', o.on ? 'on' : 'off'];
    case 'addr-add': check(!!parseIPv4Cidr(o.cidr), 'address/prefix', o.cidr); return ['addr', 'add', o.cidr, 'broadcast', '+', 'dev', dev(o.name)];
    case 'addr-del': check(!!parseIPv4Cidr(o.cidr), 'address/prefix', o.cidr); return ['addr', 'del', o.cidr, 'dev', dev(o.name)];
    case 'route-default': check(isIPv4(o.via), 'gateway', o.via); return ['route', 'replace', 'default', 'via', o.via, 'dev', dev(o.name)];
    default: throw new IpError([], `not one ip command: ${(o as Op).op}`);
  }
}
