// Dedicated commands for VIFs, VMs (as far as networking needs them) and event-wait (xen-api: ocaml/xapi-cli-server/cli_operations.ml).
import type { Rec } from '../../idl/meta.js';
import { ArgError, CliFailure, CONTROL_PARAMS, parseEnum } from '../args.js';
import { opt, req, type Command, type Env } from '../command.js';
import type { Caller } from '../fields.js';
import { enumParam } from '../idl.js';
import { depsOf, fieldsOf, listObjects, parseFilters, Records, requireField } from '../records.js';
import { CLI_CLASSES, VIF, VM } from '../tables.js';
import { refParam, simple } from './net.js';

/**
 * `mac=random`: a locally administered unicast MAC made on the client side. As in xe, all six
 * bytes come from one random value (e.g. 2e:2f:2f:2f:2f:2f). The random byte comes from the
 * global Web Crypto, so xe does not load node:crypto (~3 ms) on every run for this one use.
 */
export function randomMac(r: number = crypto.getRandomValues(new Uint8Array(1))[0]!): string {
  const bytes = [r, r, r, r, r, r];
  bytes[0] = (r | 0x02) & 0xfe;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** VM selector parameters (`vm=` is a uuid or a name-label; other fields filter). */
const SELECTOR_SKIP = new Set(['vm', 'on']);

/** The VMs matching the selectors; more than one needs --multiple unless `multiple` says so. */
async function selectVMs(c: Caller, env: Env, multiple: boolean): Promise<[string, Rec][]> {
  const fields = await fieldsOf(VM);
  const selectors = new Map([...env.params].filter(([k]) => !CONTROL_PARAMS.has(k)));
  const filters = parseFilters(fields, selectors, SELECTOR_SKIP);
  const view = new Records(c);
  const [all] = await Promise.all([view.all('VM'), view.load(depsOf(filters.map((f) => f.field)))]);
  const vm = env.params.get('vm');
  const hits = [...all].filter(([, r]) =>
    (vm === undefined || r.uuid === vm || r.name_label === vm) && filters.every((f) => f.test(r, view)));
  if (hits.length === 0) throw new ArgError('No matching VMs found');
  if (hits.length > 1 && !multiple && env.params.get('multiple') !== 'true') {
    throw new ArgError(`${hits.length} VMs match; give --multiple to operate on all of them`);
  }
  return hits;
}

/** `on=`: a host uuid, name-label or hostname. */
async function hostRef(c: Caller, which: string): Promise<string> {
  const all = await c.call<Record<string, Rec>>('host.get_all_records');
  const hit = Object.entries(all).find(([, h]) => h.uuid === which || h.name_label === which || h.hostname === which);
  if (hit === undefined) throw new ArgError(`No host matches '${which}'`);
  return hit[0];
}

/** What the help of a command on selected VMs adds, as the real xe's <vm-selectors>. */
export const VM_SELECTORS = '<vm-selectors>';
const SELECTORS_HELP = ' VMs are selected by the values of any of their fields (field=value; vm= matches the uuid or the'
  + ' name-label); when several match, --multiple acts on all of them.';

function vmOp(name: string, help: string, body: (c: Caller, env: Env, vm: string) => Promise<void>, optn: string[] = []): Command {
  return {
    name, reqd: [], optn: [...optn, VM_SELECTORS], help: help + SELECTORS_HELP,
    run: async (env) => {
      const c = await env.client();
      for (const [ref] of await selectVMs(c, env, false)) await body(c, env, ref);
    },
  };
}

function configureIp(version: 4 | 6): Command {
  const method = `configure_ipv${version}`;
  return {
    name: `vif-configure-ipv${version}`, reqd: ['uuid', 'mode'], optn: ['address', 'gateway'],
    help: `Set the guest IPv${version} configuration of a VIF, pushed through the guest agent.`,
    run: async (env) => {
      const mode = parseEnum(await enumParam('VIF', method, 'mode'), req(env, 'mode'));
      const address = opt(env, 'address', '');
      if (mode === 'Static' && address === '') throw new CliFailure('Required parameter not found: address');
      const c = await env.client();
      await c.call(`VIF.${method}`, await refParam(c, env, 'VIF', 'uuid'), mode, address, opt(env, 'gateway', ''));
    },
  };
}

/** Waits until some record of the class satisfies every `field=value` (or `field/=value`, not equal) condition. */
async function eventWait(env: Env): Promise<void> {
  const name = req(env, 'class').toLowerCase();
  const cc = CLI_CLASSES.find((x) => x.prefix === name || x.cls.toLowerCase() === name);
  if (cc === undefined) throw new ArgError(`Unknown class: ${req(env, 'class')}`);
  const fields = await fieldsOf(cc);
  const conds = [...env.params].filter(([k]) => k !== 'class' && !CONTROL_PARAMS.has(k)).map(([k, v]) => {
    const negate = k.endsWith('/');
    const fname = negate ? k.slice(0, -1) : k;
    return { field: requireField(fields, fname), v, negate };
  });
  const c = await env.client();
  let token = '';
  for (;;) {
    // The token is taken before reading, so a change racing the read wakes the next event.from.
    const batch = await c.call<{ token: string }>('event.from', [cc.cls.toLowerCase()], token, 30);
    token = batch.token;
    const view = new Records(c);
    const [all] = await Promise.all([view.all(cc.cls), view.load(depsOf(conds.map((x) => x.field)))]);
    const ok = [...all.values()].some((r) => conds.every(({ field, v, negate }) => (field.get(r, view) === v) !== negate));
    if (ok) return;
  }
}

export const VM_COMMANDS: Command[] = [
  {
    name: 'vif-create', reqd: ['device', 'network-uuid', 'vm-uuid'], optn: ['mac'],
    help: 'Create a VIF on a VM (mac="" lets the server choose, mac=random makes one here); prints its uuid.',
    run: async (env) => {
      const c = await env.client();
      const network = await refParam(c, env, 'network', 'network-uuid');
      const vm = await refParam(c, env, 'VM', 'vm-uuid');
      const mac = opt(env, 'mac', '');
      const record = {
        device: req(env, 'device'),
        network,
        VM: vm,
        MAC: mac.toLowerCase() === 'random' ? randomMac() : mac,
        MTU: await c.call<number>('network.get_MTU', network),
        other_config: {},
        currently_attached: false,
        qos_algorithm_type: '',
        qos_algorithm_params: {},
        locking_mode: 'network_default',
        ipv4_allowed: [],
        ipv6_allowed: [],
        trunks: [],
      };
      const ref = await c.call<string>('VIF.create', record);
      env.out(`${await c.call<string>('VIF.get_uuid', ref)}\n`);
    },
  },
  simple('vif-destroy', 'VIF', 'destroy', 'Destroy a VIF (refused while it is attached to a running VM).'),
  simple('vif-plug', 'VIF', 'plug', 'Hot-plug a VIF into its running VM.'),
  {
    name: 'vif-unplug', reqd: ['uuid'], optn: ['force'],
    help: 'Hot-unplug a VIF from its running VM (--force does not wait for the guest).',
    run: async (env) => {
      const c = await env.client();
      const method = env.params.get('force') === 'true' ? 'unplug_force' : 'unplug';
      await c.call(`VIF.${method}`, await refParam(c, env, 'VIF', 'uuid'));
    },
  },
  {
    name: 'vif-move', reqd: ['uuid', 'network-uuid'], optn: [],
    help: 'Move a VIF to another network (live, if it is attached).',
    run: async (env) => {
      const c = await env.client();
      await c.call('VIF.move', await refParam(c, env, 'VIF', 'uuid'), await refParam(c, env, 'network', 'network-uuid'));
    },
  },
  configureIp(4),
  configureIp(6),
  {
    name: 'vm-vif-list', reqd: [], optn: ['uuid', 'vm', 'name-label', 'params'],
    help: 'List the VIFs of the selected VMs.',
    run: async (env) => {
      const c = await env.client();
      const vms = await selectVMs(c, env, true);
      const params = new Map<string, string>();
      for (const k of ['params', 'minimal']) if (env.params.has(k)) params.set(k, env.params.get(k)!);
      const refs = new Set(vms.map(([r]) => r));
      // One list call per VM would re-fetch every VIF; filter once instead.
      const text = await listObjects(c, VIF, params, {
        extraDefaults: ['uuid', 'vm-name-label', 'device', 'MAC', 'network-uuid', 'network-name-label'],
        builtin: {},
        only: (r) => refs.has(String(r.VM)),
      });
      env.out(text);
    },
  },
  {
    name: 'vm-create', reqd: ['name-label'], optn: ['name-description'],
    help: 'Create a (halted) VM, a network endpoint for VIFs; prints its uuid.',
    run: async (env) => {
      const c = await env.client();
      const ref = await c.call<string>('VM.create', {
        name_label: req(env, 'name-label'), name_description: opt(env, 'name-description', ''), other_config: {},
      });
      env.out(`${await c.call<string>('VM.get_uuid', ref)}\n`);
    },
  },
  vmOp('vm-start', 'Start the selected VM (on=HOST picks the host); its VIFs are plugged.', async (c, env, vm) => {
    const on = env.params.get('on');
    if (on === undefined) await c.call('VM.start', vm, false, false);
    else await c.call('VM.start_on', vm, await hostRef(c, on), false, false);
  }, ['on']),
  vmOp('vm-shutdown', 'Shut the selected VM down (--force: at once).', async (c, env, vm) => {
    await c.call(env.params.get('force') === 'true' ? 'VM.hard_shutdown' : 'VM.clean_shutdown', vm);
  }, ['force']),
  vmOp('vm-destroy', 'Destroy the selected (halted) VM and its VIFs.', async (c, _env, vm) => {
    await c.call('VM.destroy', vm);
  }),
  {
    name: 'event-wait', reqd: ['class'], optn: ['<field>=<value>', '<field>/=<value>'],
    help: 'Wait until an object of the class satisfies every field condition (e.g. class=vm power-state=running).',
    run: eventWait,
  },
];
