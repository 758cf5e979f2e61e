// Pool membership commands, as the real xe spells them.
import { readFileSync } from 'node:fs';
import { CliFailure, UsageError, parseBool } from '../args.js';
import { USAGE_HINT } from '../errors.js';
import { opt, req, type Command, type Env } from '../command.js';
import { refParam } from './net.js';

/** master-password, or the first line of master-password-file (exactly one of them). */
function masterPassword(env: Env): string {
  const file = env.params.get('master-password-file');
  if (file === undefined) {
    if (!env.params.has('master-password')) throw new UsageError(['Required parameter not found: master-password', USAGE_HINT]);
    return req(env, 'master-password');
  }
  if (env.params.has('master-password')) throw new CliFailure('give master-password or master-password-file, not both');
  try {
    return readFileSync(file, 'utf8').split('\n')[0]!;
  } catch {
    throw new CliFailure(`cannot read the file ${file} given as master-password-file`);
  }
}

export const POOL_COMMANDS: Command[] = [
  {
    name: 'pool-join', reqd: ['master-address', 'master-username'], optn: ['master-password', 'master-password-file', 'force'],
    help: 'Run on a standalone host: join the pool whose master is at master-address (ADDRESS[:PORT]); '
      + 'from then on this host runs only its agent and answers HOST_IS_SLAVE. master-password-file=FILE '
      + '(its first line) instead of master-password keeps the password out of the command line (ps).',
    run: async (env) => {
      const force = parseBool('force', opt(env, 'force', 'false'));
      const password = masterPassword(env);
      const c = await env.client();
      await c.call(force ? 'pool.join_force' : 'pool.join', req(env, 'master-address'), req(env, 'master-username'), password);
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
    name: 'pool-recover-slaves', reqd: [], optn: [],
    help: 'Run on the master after its management address changed: tell every member the new address; '
      + 'prints the uuids of the members that took it (a member that cannot be reached is left out).',
    run: async (env) => {
      const c = await env.client();
      const hosts = await c.call<string[]>('pool.recover_slaves');
      const uuids = await Promise.all(hosts.map((h) => c.call<string>('host.get_uuid', h)));
      // As the real xe prints a list: one per line, or a comma list with --minimal.
      if (uuids.length) env.out(env.params.get('minimal') === 'true' ? `${uuids.join(',')}\n` : uuids.map((u) => `${u}\n`).join(''));
    },
  },
  {
    name: 'pool-emergency-reset-master', reqd: ['master-address'], optn: [],
    help: 'On a pool member, on its own socket: follow the master at master-address (IPv4 or DNS name) from now on.',
    run: async (env) => {
      const c = await env.client();
      await c.call('pool.emergency_reset_master', req(env, 'master-address'));
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
