// `xcpnet serve`: the pool master. Opens the store, makes sure the pool exists, and serves
// the API over HTTPS (plain HTTP on loopback, or when told it is insecure) and the unix socket
// `<state-dir>/xapi.sock`.

import { privateDir, writePrivateFile } from '../common/private-files.js';
import { join } from 'node:path';
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { ApiError } from '../common/api-error.js';
import { fingerprintOf, loadOrCreateCertificate, saveCertificate, validateCertificate, type ServerCertificate } from './certificate.js';
import { startListener, type Listener } from '../rpc/listener.js';
import { findClass } from '../idl/index.js';
import { bootPool } from './boot.js';
import { ensureRoot } from './sessions.js';
import { XapiServer } from './server.js';
import type { ImplTable } from './context.js';
import { LoopbackClient } from './loopback.js';
import { openHostSide, runAgent, type RunningAgent } from '../agent/index.js';
import { initialHostNetworking } from './impl/pif.js';
import { startTunnelController } from './impl/controller.js';

export interface ServeOptions {
  stateDir: string;
  listen?: { host: string; port: number } | null;
  /**
   * Serve TCP as plain HTTP rather than HTTPS: 'loopback' only on a loopback address (refused
   * elsewhere), 'insecure' on any address. Default: HTTPS.
   */
  http?: 'loopback' | 'insecure';
  rootPassword?: string;
  hostName?: string;
  impls?: ImplTable[];
  /** NICs of the simulated local host (fake backend) when the in-process agent runs. */
  fakeNics?: number;
  /** Run no in-process agent (the lab runs one agent per host namespace instead). */
  noAgent?: boolean;
  changeLogSize?: number;
  /** Run after the pool and the local agent are up (first-boot networking, controllers). */
  afterBoot?: Array<(server: XapiServer, host: string) => Promise<void> | void>;
  log?: (line: string) => void;
  /**
   * Whether standard error is a terminal that the person starting the master watches (default:
   * process.stderr.isTTY): where a generated root password goes (see tellRootPassword).
   */
  tty?: boolean;
}

export interface Master {
  server: XapiServer;
  listener: Listener;
  host: string;
  socketPath: string;
  /** The in-process agent of the master's own host (absent with noAgent). */
  agent?: RunningAgent;
  /** The SHA-256 fingerprint of the TLS certificate served now. */
  fingerprint(): string;
  close(): Promise<void>;
}

export async function startMaster(opts: ServeOptions): Promise<Master> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const listen = opts.listen ?? undefined;
  if (listen && opts.http === 'loopback' && !isLoopback(listen.host)) {
    throw new Error(`plain HTTP is served only on a loopback address, not on ${listen.host}: serve HTTPS, or say --insecure-http`);
  }
  const was = privateDir(opts.stateDir);
  if (was !== undefined) log(`xcpnet: state directory ${opts.stateDir} was mode ${was.toString(8)}, now 700: it holds the database`);
  const names = [...new Set([opts.hostName, hostname(), 'localhost'].filter((n): n is string => !!n))];
  const certificate = () => loadOrCreateCertificate(opts.stateDir, names, addressesOf(listen?.host));
  let served: Listener | undefined;
  const server = new XapiServer({
    dbPath: join(opts.stateDir, 'xcpnet.db'), log, changeLogSize: opts.changeLogSize,
    impls: [...(opts.impls ?? []), certificateImpls(() => server.masterHost(), opts.stateDir, certificate, () => served)],
  });
  const generated = await ensureRoot(server.users, opts.rootPassword);
  if (generated) tellRootPassword(generated, opts.stateDir, opts.tty ?? process.stderr.isTTY === true, log);
  const host = bootPool(server, { hostName: opts.hostName });
  const socketPath = join(opts.stateDir, 'xapi.sock');
  const listener = await startListener({
    tcp: listen, socketPath,
    tls: listen && opts.http === undefined ? certificate() : undefined,
    // The socket's peer is local and has no address: it is limited per user only, and trusted
    // as xapi trusts its own socket (only the server's user can connect: the socket is 0600).
    handle: (call) => server.handle({
      method: call.method, params: call.params,
      ...(call.source === 'unix' ? { local: true } : { remote: call.source }),
    }),
    lookupClass: findClass,
    onError: (e, where) => log(`xcpnet: ${where}: ${(e as Error)?.stack ?? e}`),
  });
  served = listener;
  const controller = startTunnelController(server);
  const agent = opts.noAgent ? undefined : await startLocalAgent(server, host, opts.fakeNics ?? 4, log);
  // A fresh simulated host comes up as a fresh XCP host does: PIFs for its NICs, management on eth0.
  const hasPifs = [...server.store.all('PIF')].some(([, p]) => p.host === host);
  if (agent && !hasPifs) await initialHostNetworking(server, host);
  for (const hook of opts.afterBoot ?? []) await hook(server, host);
  return {
    server, listener, host, socketPath, agent,
    fingerprint: () => fingerprintOf(certificate().cert),
    async close() {
      controller.stop();
      await agent?.stop();
      await listener.close();
      server.close();
    },
  };
}

/** True for an address only this machine can reach. */
function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));
}

/** The addresses a certificate names: the listen address, or every local address when it is a wildcard. */
function addressesOf(listenHost: string | undefined): string[] {
  if (listenHost && isIP(listenHost) && listenHost !== '0.0.0.0' && listenHost !== '::') return [listenHost, '127.0.0.1', '::1'];
  const all = Object.values(networkInterfaces()).flatMap((l) => l ?? []).map((a) => a.address.replace(/%.*$/, ''));
  return [...new Set(['127.0.0.1', '::1', ...all])];
}

/** host.install_server_certificate and host.get_server_certificate, for the host this master runs on. */
function certificateImpls(self: () => string, stateDir: string, current: () => ServerCertificate,
  listener: () => Listener | undefined): ImplTable {
  const mine = (host: unknown, method: string) => {
    if (host !== self()) throw new ApiError('NOT_IMPLEMENTED', [`${method} for a host other than the one serving the call`]);
  };
  return {
    'host.get_server_certificate': (_ctx, a) => { mine(a.host, 'host.get_server_certificate'); return current().cert; },
    'host.install_server_certificate': (_ctx, a) => {
      mine(a.host, 'host.install_server_certificate');
      const next = validateCertificate(String(a.certificate), String(a.private_key), String(a.certificate_chain ?? ''));
      saveCertificate(stateDir, next);
      const l = listener();
      if (l?.tls) l.setCertificate(next);
    },
  };
}

/** Where a generated root password is left: the file of that name in the state directory. */
const ROOT_PASSWORD_FILE = 'root-password';

/**
 * A generated root password is shown once, to the person who started the master, and never
 * logged: on a terminal it is written there and kept nowhere. Otherwise standard error is a log
 * (a journal, a file) that others may read and that keeps it: the password goes to
 * <state-dir>/root-password instead, mode 0600 in the 0700 state directory (readable by whoever
 * can read the database anyway), and the log names only that file.
 */
function tellRootPassword(password: string, stateDir: string, tty: boolean, log: (l: string) => void): void {
  if (tty) {
    process.stderr.write(`xcpnet: created user root with password ${password} (shown once, stored nowhere)\n`);
    return;
  }
  const file = join(stateDir, ROOT_PASSWORD_FILE);
  writePrivateFile(file, `${password}\n`);
  log(`xcpnet: created user root; its password is in ${file} (readable by this user only)`);
}

/** The master's own host, simulated: the fake backend, driven through the public API. */
async function startLocalAgent(server: XapiServer, host: string, fakeNics: number, log: (l: string) => void): Promise<RunningAgent> {
  const hostUuid = server.store.get('host', host).uuid as string;
  const { backend, guests } = await openHostSide({ hostUuid, fakeNics });
  const client = LoopbackClient.open(server, 'xcpnet-local-agent');
  const agent = await runAgent({ client, hostRef: host, backend, guests, log: (m) => log(`agent: ${m}`) });
  await server.hub.wait(host, [], 0);
  return agent;
}
