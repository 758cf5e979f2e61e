// `xcpnet lab <subcommand> …`: argument parsing over the lab API. Returns the exit code.
import { parseArgs } from 'node:util';
import { labUp, labDown, labStatus, labEnv, labAddNic, labCable, labExec, labRestartAgent, labRestartMaster, formatLabStatus, labHint } from './index.js';

export const LAB_USAGE = `usage: xcpnet lab <command> [--name L] [--state-dir DIR]

  up [--hosts N] [--nics M] [--backend openvswitch|bridge] [--sdn mesh|ovn]
                                build lab L (default: lab, 2 hosts, 4 NICs, Open vSwitch) in network namespaces
  down                          remove everything lab L made, and nothing else
  status [--json]               hosts, NICs and cables, switch ports, running guests
  env                           shell export lines pointing xe at the lab: eval "$(xcpnet lab env)"
  add-nic HOST                  hot-add the next ethN to HOST, cabled to the switch
  cable HOST ethN up|down       plug or pull a cable
  exec VM|HOST -- CMD …         run CMD in a guest, or in a host with ovs-vsctl/ovs-appctl on its OVS
  restart-agent HOST            SIGKILL the host's agent and start it again
  restart-master [--outage S]   SIGKILL the pool master and start it again (after S seconds)
`;

export async function runLabCli(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(LAB_USAGE);
    return sub ? 0 : 2;
  }
  const { values, positionals } = parseArgs({
    args: rest, allowPositionals: true,
    options: {
      name: { type: 'string' }, 'state-dir': { type: 'string' },
      hosts: { type: 'string' }, nics: { type: 'string' }, json: { type: 'boolean', default: false }, backend: { type: 'string' }, sdn: { type: 'string' }, outage: { type: 'string' },
    },
  });
  const common = { name: values.name, stateDir: values['state-dir'] };
  const need = (n: number, usage: string): void => {
    if (positionals.length < n) throw new Error(`usage: xcpnet lab ${usage}`);
  };
  switch (sub) {
    case 'up': {
      const num = (v: string | undefined, what: string): number | undefined => {
        if (v === undefined) return undefined;
        if (!/^\d+$/.test(v)) throw new Error(`--${what} wants a number, got ${v}`);
        return Number(v);
      };
      const backend = values.backend;
      if (backend !== undefined && backend !== 'openvswitch' && backend !== 'bridge') throw new Error(`--backend wants openvswitch or bridge, got ${backend}`);
      const sdn = values.sdn;
      if (sdn !== undefined && sdn !== 'mesh' && sdn !== 'ovn') throw new Error(`--sdn wants mesh or ovn, got ${sdn}`);
      if (sdn === 'ovn' && backend === 'bridge') throw new Error('--sdn ovn needs Open vSwitch hosts, not --backend bridge');
      const state = await labUp({ ...common, hosts: num(values.hosts, 'hosts'), nics: num(values.nics, 'nics'), backend, sdn });
      process.stdout.write(labHint(state));
      return 0;
    }
    case 'down':
      await labDown(common);
      return 0;
    case 'status': {
      const s = await labStatus(common);
      process.stdout.write(values.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatLabStatus(s)}\n`);
      return 0;
    }
    case 'env':
      process.stdout.write(labEnv(common));
      return 0;
    case 'add-nic':
      need(1, 'add-nic HOST');
      await labAddNic({ ...common, host: positionals[0]! });
      return 0;
    case 'cable': {
      need(3, 'cable HOST ethN up|down');
      const st = positionals[2];
      if (st !== 'up' && st !== 'down') throw new Error('usage: xcpnet lab cable HOST ethN up|down');
      await labCable({ ...common, host: positionals[0]!, device: positionals[1]!, state: st });
      return 0;
    }
    case 'exec': {
      need(2, 'exec VM|HOST -- CMD …');
      const r = await labExec({ ...common, target: positionals[0]!, argv: positionals.slice(1) });
      return r.code;
    }
    case 'restart-agent':
      need(1, 'restart-agent HOST');
      await labRestartAgent({ ...common, host: positionals[0]! });
      return 0;
    case 'restart-master': {
      const outage = values.outage === undefined ? 0 : Number(values.outage);
      if (!Number.isFinite(outage) || outage < 0 || outage > 3600) throw new Error(`--outage wants seconds (0..3600), got ${values.outage}`);
      await labRestartMaster({ ...common, outageMs: outage * 1000 });
      return 0;
    }
    default:
      process.stderr.write(`xcpnet lab: unknown command ${sub}\n${LAB_USAGE}`);
      return 2;
  }
}
