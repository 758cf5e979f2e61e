// Dedicated commands for networks, PIFs, VLANs, bonds and tunnels (§6.6).
import { getCaseless, mapParams, parseBool, parseEnum, parseIntParam, splitList } from '../args.js';
import { opt, req, type Command, type Env } from '../command.js';
import type { Caller } from '../fields.js';
import { enumParam } from '../idl.js';
import { refOf } from '../records.js';

/** The ref of the object of class `cls` whose uuid is in parameter `param`. */
export async function refParam(c: Caller, env: Env, cls: string, param: string): Promise<string> {
  return refOf(c, cls, req(env, param));
}

async function uuidOf(c: Caller, cls: string, ref: string): Promise<string> {
  return c.call<string>(`${cls}.get_uuid`, ref);
}

/** A command that resolves `uuid=` of `cls` and calls `method` on it, printing nothing. */
export function simple(name: string, cls: string, method: string, help: string, extra: Partial<Command> = {}): Command {
  return {
    name, reqd: ['uuid'], optn: [], help, ...extra,
    run: async (env) => {
      const c = await env.client();
      await c.call(`${cls}.${method}`, await refParam(c, env, cls, 'uuid'));
    },
  };
}

export const NET_COMMANDS: Command[] = [
  {
    name: 'network-create', reqd: ['name-label'], optn: ['name-description', 'MTU', 'bridge', 'managed'],
    help: 'Create a network (an internal one until a PIF joins it); prints its uuid.',
    run: async (env) => {
      const record = {
        name_label: req(env, 'name-label'),
        name_description: opt(env, 'name-description', ''),
        MTU: parseIntParam('MTU', opt(env, 'MTU', '1500')),
        bridge: opt(env, 'bridge', ''),
        managed: parseBool('managed', opt(env, 'managed', 'true')),
        other_config: {},
        tags: [],
      };
      const c = await env.client();
      const ref = await c.call<string>('network.create', record);
      env.out(`${await uuidOf(c, 'network', ref)}\n`);
    },
  },
  simple('network-destroy', 'network', 'destroy',
    'Destroy a network; refused while it has PIFs or attached VIFs (its unattached VIFs go with it).'),
  {
    name: 'network-attach', reqd: ['uuid', 'host-uuid'], optn: [], hidden: true,
    help: 'Make a network live on a host now (bridge created, PIFs plugged).',
    run: async (env) => {
      const c = await env.client();
      await c.call('network.attach', await refParam(c, env, 'network', 'uuid'), await refParam(c, env, 'host', 'host-uuid'));
    },
  },
  {
    name: 'pif-scan', reqd: ['host-uuid'], optn: [],
    help: 'Look for new physical NICs on a host and create a PIF (and network) for each.',
    run: async (env) => {
      const c = await env.client();
      await c.call('PIF.scan', await refParam(c, env, 'host', 'host-uuid'));
    },
  },
  {
    name: 'pif-introduce', reqd: ['host-uuid', 'device'], optn: ['mac', 'managed'],
    help: 'Create the PIF of one physical NIC of a host; prints its uuid.',
    run: async (env) => {
      const c = await env.client();
      const host = await refParam(c, env, 'host', 'host-uuid');
      const managed = parseBool('managed', opt(env, 'managed', 'true'));
      const ref = await c.call<string>('PIF.introduce', host, opt(env, 'mac', ''), req(env, 'device'), managed);
      env.out(`${await uuidOf(c, 'PIF', ref)}\n`);
    },
  },
  simple('pif-forget', 'PIF', 'forget', 'Remove a PIF (and its metrics) from the database; its network stays.'),
  simple('pif-db-forget', 'PIF', 'db_forget', 'Delete a PIF\'s database row only.', { hidden: true }),
  simple('pif-plug', 'PIF', 'plug', 'Bring a PIF up: bridge, devices and IP configuration.'),
  simple('pif-unplug', 'PIF', 'unplug', 'Take a PIF down.'),
  {
    name: 'pif-reconfigure-ip', reqd: ['uuid', 'mode'], optn: ['IP', 'netmask', 'gateway', 'DNS'],
    help: 'Set the IPv4 configuration of a PIF (mode none, dhcp or static).',
    run: async (env) => {
      const mode = parseEnum(await enumParam('PIF', 'reconfigure_ip', 'mode'), req(env, 'mode'));
      const c = await env.client();
      const pif = await refParam(c, env, 'PIF', 'uuid');
      await c.call('PIF.reconfigure_ip', pif, mode, getCaseless(env.params, 'IP') ?? '', opt(env, 'netmask', ''),
        opt(env, 'gateway', ''), getCaseless(env.params, 'DNS') ?? '');
    },
  },
  {
    name: 'pif-reconfigure-ipv6', reqd: ['uuid', 'mode'], optn: ['IPv6', 'gateway', 'DNS'],
    help: 'Set the IPv6 configuration of a PIF (mode none, dhcp, static or autoconf).',
    run: async (env) => {
      const mode = parseEnum(await enumParam('PIF', 'reconfigure_ipv6', 'mode'), req(env, 'mode'));
      const c = await env.client();
      const pif = await refParam(c, env, 'PIF', 'uuid');
      await c.call('PIF.reconfigure_ipv6', pif, mode, getCaseless(env.params, 'IPv6') ?? '', opt(env, 'gateway', ''),
        getCaseless(env.params, 'DNS') ?? '');
    },
  },
  {
    name: 'pif-set-primary-address-type', reqd: ['uuid', 'primary_address_type'], optn: [],
    help: 'Choose which address family (ipv4 or ipv6) is the PIF\'s primary address.',
    run: async (env) => {
      const type = parseEnum(await enumParam('PIF', 'set_primary_address_type', 'primary_address_type'), req(env, 'primary_address_type'));
      const c = await env.client();
      await c.call('PIF.set_primary_address_type', await refParam(c, env, 'PIF', 'uuid'), type);
    },
  },
  {
    name: 'vlan-create', reqd: ['pif-uuid', 'vlan', 'network-uuid'], optn: [],
    help: 'Create a VLAN on a PIF, joining the given network; prints the uuid of the new VLAN PIF.',
    run: async (env) => {
      const tag = parseIntParam('vlan', req(env, 'vlan'));
      const c = await env.client();
      const pif = await refParam(c, env, 'PIF', 'pif-uuid');
      const network = await refParam(c, env, 'network', 'network-uuid');
      const vlan = await c.call<string>('VLAN.create', pif, tag, network);
      const untagged = await c.call<string>('VLAN.get_untagged_PIF', vlan);
      env.out(`${await uuidOf(c, 'PIF', untagged)}\n`);
    },
  },
  {
    name: 'pool-vlan-create', reqd: ['pif-uuid', 'vlan', 'network-uuid'], optn: [],
    help: 'Create a VLAN on every host\'s PIF of the same network as the given PIF; prints the new VLAN PIFs.',
    run: async (env) => {
      const tag = parseIntParam('vlan', req(env, 'vlan'));
      const c = await env.client();
      const pif = await refParam(c, env, 'PIF', 'pif-uuid');
      const network = await refParam(c, env, 'network', 'network-uuid');
      const pifs = await c.call<string[]>('pool.create_VLAN_from_PIF', pif, network, tag);
      for (const p of pifs) env.out(`${await uuidOf(c, 'PIF', p)}\n`);
    },
  },
  {
    name: 'vlan-destroy', reqd: ['uuid'], optn: [],
    help: 'Destroy a VLAN and its VLAN PIF (a VLAN PIF\'s uuid is accepted too).',
    run: async (env) => {
      const c = await env.client();
      const uuid = req(env, 'uuid');
      let vlan: string | undefined;
      try {
        vlan = await refOf(c, 'VLAN', uuid);
      } catch (e) {
        // Legacy: the uuid of a VLAN PIF destroys through PIF.destroy.
        let pif: string;
        try { pif = await refOf(c, 'PIF', uuid); } catch { throw e; }
        await c.call('PIF.destroy', pif);
        return;
      }
      await c.call('VLAN.destroy', vlan);
    },
  },
  {
    name: 'tunnel-create', reqd: ['pif-uuid', 'network-uuid'], optn: ['protocol'],
    help: 'Create a tunnel (gre or vxlan) over a transport PIF; prints the uuid of the access PIF.',
    run: async (env) => {
      const protocol = parseEnum(await enumParam('tunnel', 'create', 'protocol'), opt(env, 'protocol', 'gre'));
      const c = await env.client();
      const pif = await refParam(c, env, 'PIF', 'pif-uuid');
      const network = await refParam(c, env, 'network', 'network-uuid');
      const tunnel = await c.call<string>('tunnel.create', pif, network, protocol);
      const access = await c.call<string>('tunnel.get_access_PIF', tunnel);
      env.out(`${await uuidOf(c, 'PIF', access)}\n`);
    },
  },
  simple('tunnel-destroy', 'tunnel', 'destroy', 'Destroy a tunnel and its access PIF.'),
  {
    name: 'bond-create', reqd: ['network-uuid', 'pif-uuids'], optn: ['mac', 'mode', 'properties:'],
    help: 'Bond PIFs of one host (mode balance-slb, active-backup or lacp); prints the bond\'s uuid.',
    run: async (env) => {
      const mode = parseEnum(await enumParam('Bond', 'create', 'mode'), opt(env, 'mode', 'balance-slb'));
      const properties = mapParams(env.params, 'properties');
      const c = await env.client();
      const network = await refParam(c, env, 'network', 'network-uuid');
      const members: string[] = [];
      for (const u of splitList(req(env, 'pif-uuids'))) members.push(await refOf(c, 'PIF', u));
      const bond = await c.call<string>('Bond.create', network, members, opt(env, 'mac', ''), mode, properties);
      env.out(`${await uuidOf(c, 'Bond', bond)}\n`);
    },
  },
  simple('bond-destroy', 'Bond', 'destroy', 'Destroy a bond; its members get their configuration back.'),
  {
    name: 'bond-set-mode', reqd: ['uuid', 'mode'], optn: [],
    help: 'Change a bond\'s mode (balance-slb, active-backup or lacp).',
    run: async (env) => {
      const mode = parseEnum(await enumParam('Bond', 'set_mode', 'value'), req(env, 'mode'));
      const c = await env.client();
      await c.call('Bond.set_mode', await refParam(c, env, 'Bond', 'uuid'), mode);
    },
  },
  {
    name: 'host-management-reconfigure', reqd: ['pif-uuid'], optn: [],
    help: 'Make a PIF the management interface of its host.',
    run: async (env) => {
      const c = await env.client();
      await c.call('host.management_reconfigure', await refParam(c, env, 'PIF', 'pif-uuid'));
    },
  },
  {
    name: 'host-emergency-management-reconfigure', reqd: ['interface'], optn: [],
    help: 'On a pool member that cannot reach its master: put its management interface on a bridge (e.g. xenbr1), with the IP configuration recorded for its PIF.',
    run: async (env) => {
      const c = await env.client();
      await c.call('host.local_management_reconfigure', req(env, 'interface'));
    },
  },
  {
    name: 'host-is-in-emergency-mode', reqd: [], optn: [],
    help: 'Whether the host xe talks to is a pool member that cannot reach its master.',
    run: async (env) => {
      const c = await env.client();
      env.out(`${String(await c.call<boolean>('host.is_in_emergency_mode'))}\n`);
    },
  },
  {
    name: 'host-management-disable', reqd: [], optn: [],
    help: 'Turn off the management interface of the host xe is connected to.',
    run: async (env) => {
      const c = await env.client();
      await c.call('host.management_disable');
    },
  },
  {
    name: 'pool-management-reconfigure', reqd: ['network-uuid'], optn: [],
    help: 'Move the management interface of every host to its PIF on a network.',
    run: async (env) => {
      const c = await env.client();
      await c.call('pool.management_reconfigure', await refParam(c, env, 'network', 'network-uuid'));
    },
  },
];
