// Pool membership commands, as the real xe spells them.
import { parseBool } from '../args.js';
import { opt, req, type Command } from '../command.js';
import { refParam } from './net.js';

export const POOL_COMMANDS: Command[] = [
  {
    name: 'pool-join', reqd: ['master-address', 'master-username', 'master-password'], optn: ['force'],
    help: 'Run on a standalone host: join the pool whose master is at master-address (ADDRESS[:PORT]); '
      + 'from then on this host runs only its agent and answers HOST_IS_SLAVE.',
    run: async (env) => {
      const force = parseBool('force', opt(env, 'force', 'false'));
      const c = await env.client();
      await c.call(force ? 'pool.join_force' : 'pool.join', req(env, 'master-address'), req(env, 'master-username'), req(env, 'master-password'));
    },
  },
  {
    name: 'pool-eject', reqd: ['host-uuid'], optn: ['force'],
    help: 'Remove a member from the pool; it comes back as a standalone host with its management interface.',
    run: async (env) => {
      const c = await env.client();
      await c.call('pool.eject', await refParam(c, env, 'host', 'host-uuid'));
    },
  },
  {
    name: 'host-forget', reqd: ['uuid'], optn: ['force'],
    help: 'Forget a dead member (host.destroy): refused while the host is alive.',
    run: async (env) => {
      const c = await env.client();
      await c.call('host.destroy', await refParam(c, env, 'host', 'uuid'));
    },
  },
  {
    name: 'pool-secret-rotate', reqd: [], optn: [],
    help: 'Replace every member\'s pool credential; the members collect theirs without interruption.',
    run: async (env) => {
      const c = await env.client();
      await c.call('pool.rotate_secret');
    },
  },
];
