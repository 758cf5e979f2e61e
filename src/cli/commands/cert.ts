// The host's TLS certificate: host-get-server-certificate and host-server-certificate-install,
// as the real xe has them. The files named on the command line are read here, by the client.
import { readFileSync } from 'node:fs';
import { CliFailure } from '../args.js';
import { opt, req, type Command, type Env } from '../command.js';
import type { Caller } from '../fields.js';
import { refOf } from '../records.js';

/** The host named by uuid=, else the pool's master (the host serving the call). */
async function hostOf(c: Caller, env: Env): Promise<string> {
  if (env.params.has('uuid')) return refOf(c, 'host', req(env, 'uuid'));
  const pools = await c.call<string[]>('pool.get_all');
  return c.call<string>('pool.get_master', pools[0]);
}

function readPem(env: Env, param: string): string {
  const file = env.params.get(param);
  if (file === undefined || file === '') return '';
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new CliFailure(`cannot read the file ${file} given as ${param}`);
  }
}

export const CERT_COMMANDS: Command[] = [
  {
    name: 'host-get-server-certificate', reqd: [], optn: ['uuid'],
    help: 'Get the server TLS certificate of a host (PEM); `openssl x509 -noout -fingerprint -sha256` shows what clients pin.',
    run: async (env) => {
      const c = await env.client();
      env.out(await c.call<string>('host.get_server_certificate', await hostOf(c, env)));
    },
  },
  {
    name: 'host-server-certificate-install', reqd: ['certificate', 'private-key'], optn: ['certificate-chain', 'uuid'],
    help: 'Install a server TLS certificate on a host: certificate=, private-key= and certificate-chain= name PEM files. New connections use it at once.',
    run: async (env) => {
      const c = await env.client();
      const host = await hostOf(c, env);
      await c.call('host.install_server_certificate', host, readPem(env, 'certificate'), readPem(env, 'private-key'),
        opt(env, 'certificate-chain', '') === '' ? '' : readPem(env, 'certificate-chain'));
    },
  },
];
