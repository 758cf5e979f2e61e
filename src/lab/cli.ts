// `xcpnet lab <subcommand> …`: argument parsing over the lab API. Returns the exit code.
import { parseArgs } from 'node:util';
import { labUp, labDown, labStatus, labEnv, labAddNic, labCable, labExec, labRestartAgent, labRestartMaster, labJoin, labEject, formatLabStatus, labHint, labInterrupted, labHostUuid, labGraph, xcpnetCommand } from './index.js';
import { asksHelp, commandHelp, findHelp, labOverview, LAB_COMMANDS } from '../bin/help.js';
import { closest } from '../common/suggest.js';

export async function runLabCli(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === 'help' || sub === '--help' || sub === '-h') {
    (sub ? process.stdout : process.stderr).write(labOverview());
    return sub ? 0 : 2;
  }
  const help = findHelp(`lab ${sub}`);
  if (!help) {
    const near = closest(sub, LAB_COMMANDS.map((c) => c.name.slice(4)));
    process.stderr.write(`xcpnet lab: unknown command ${sub}${near ? `; did you mean xcpnet lab ${near}?` : ''}\n${labOverview()}`);
    return 2;
  }
  if (asksHelp(rest)) {
    process.stdout.write(commandHelp(help));
    return 0;
  }
  const { values, positionals } = parseArgs({
    args: rest, allowPositionals: true,
    options: {
      name: { type: 'string' }, 'state-dir': { type: 'string' },
      hosts: { type: 'string' }, nics: { type: 'string' }, json: { type: 'boolean', default: false }, backend: { type: 'string' }, outage: { type: 'string' }, format: { type: 'string' }, sdn: { type: 'string' }, 'ovn-cluster': { type: 'string' },
      standalone: { type: 'boolean', default: false }, services: { type: 'boolean', default: false },
    },
  });
  const common = { name: values.name, stateDir: values['state-dir'] };
  const need = (n: number, usage: string): void => {
    if (positionals.length < n) throw new Error(`usage: xcpnet lab ${usage} (xcpnet lab ${sub} --help says more)`);
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
      const cluster = values['ovn-cluster'];
      if (cluster !== undefined && cluster !== '1' && cluster !== '3') throw new Error(`--ovn-cluster wants 1 or 3, got ${cluster}`);
      if (cluster === '3' && sdn !== 'ovn') throw new Error('--ovn-cluster 3 needs --sdn ovn');
      // Ctrl-C: the daemons started so far are detached and recorded; say what is left and how to go on.
      let interrupted = false;
      const onSignal = (): void => {
        interrupted = true;
        process.stderr.write(`\n${labInterrupted(common)}`);
        process.exit(130);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const state = await labUp({ ...common, hosts: num(values.hosts, 'hosts'), nics: num(values.nics, 'nics'), backend, sdn,
          ...(cluster !== undefined ? { ovnCluster: cluster === '3' ? 3 : 1 } : {}),
          ...(values.standalone ? { standalone: true } : {}), ...(values.services ? { services: true } : {}) });
        process.stdout.write(labHint(state));
        return 0;
      } catch (e) {
        // A command killed by the same Ctrl-C may fail first: let the signal's handler speak.
        await new Promise((r) => setImmediate(r));
        if (interrupted) return 130;
        throw e;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
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
      const device = await labAddNic({ ...common, host: positionals[0]! });
      const hostUuid = labHostUuid(common, positionals[0]!);
      if (hostUuid) process.stdout.write(`the pool sees ${device} once it looks for new NICs: ${xcpnetCommand('xe')} pif-scan host-uuid=${hostUuid}\n`);
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
    case 'join':
      need(1, 'join HOST');
      await labJoin({ ...common, host: positionals[0]! });
      return 0;
    case 'eject':
      need(1, 'eject HOST');
      await labEject({ ...common, host: positionals[0]! });
      return 0;
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
    case 'graph': {
      const format = values.format ?? 'text';
      if (format !== 'text' && format !== 'dot' && format !== 'mermaid') throw new Error(`--format wants text, dot or mermaid, got ${format}`);
      process.stdout.write(await labGraph(common, format));
      return 0;
    }
    default:
      process.stderr.write(`xcpnet lab: unknown command ${sub}\n${labOverview()}`);
      return 2;
  }
}
