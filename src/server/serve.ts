// `xcpnet serve`: the pool master. Opens the store, makes sure the pool exists, and serves
// the API over HTTP and the unix socket `<state-dir>/xapi.sock`.

import { privateDir, writePrivateFile } from '../common/private-files.js';
import { join } from 'node:path';
import { startListener, type Listener } from '../rpc/listener.js';
import { findClass } from '../idl/index.js';
import { bootPool } from './boot.js';
import { ensureRoot } from './sessions.js';
import { XapiServer } from './server.js';
import type { ImplTable } from './context.js';
import { LoopbackClient } from './loopback.js';
import { initialHostNetworking } from './impl/pif.js';
import { startTunnelController, type TunnelController } from './impl/controller.js';
import type { Clock } from '../common/clock.js';

export interface ServeOptions {
  stateDir: string;
  /** Where the unix socket goes (default: the state directory); made 0700. */
  runDir?: string;
  listen?: { host: string; port: number } | null;
  rootPassword?: string;
  hostName?: string;
  impls?: ImplTable[];
  /**
   * Starts the agent of the master's own host in this process (a single-host install), given
   * a client of this server, the host and its uuid. The master knows no agent: the caller
   * composes one (src/bin/local-agent.ts). Absent: no in-process agent (the lab runs one
   * agent per host namespace instead).
   */
  localAgent?: LocalAgentStarter;
  changeLogSize?: number;
  /** Run after the pool and the local agent are up (first-boot networking, controllers). */
  afterBoot?: Array<(server: XapiServer, host: string) => Promise<void> | void>;
  log?: (line: string) => void;
  /**
   * Whether standard error is a terminal that the person starting the master watches (default:
   * process.stderr.isTTY): where a generated root password goes (see tellRootPassword).
   */
  tty?: boolean;
  /** Time for the realisation hub and the tunnel controller (default: the system's; tests move it by hand). */
  timers?: Clock;
}

export interface LocalAgent { stop(): Promise<void> }
export type LocalAgentStarter = (client: LoopbackClient, host: { ref: string; uuid: string }, log: (l: string) => void) => Promise<LocalAgent>;

export interface Master {
  server: XapiServer;
  listener: Listener;
  host: string;
  socketPath: string;
  /** The in-process agent of the master's own host (absent without localAgent). */
  agent?: LocalAgent;
  /** The pool's tunnel controller (tests run a pass with sync()). */
  controller: TunnelController;
  close(): Promise<void>;
}

export async function startMaster(opts: ServeOptions): Promise<Master> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const was = privateDir(opts.stateDir);
  if (was !== undefined) log(`xcpnet: state directory ${opts.stateDir} was mode ${was.toString(8)}, now 700: it holds the database`);
  const server = new XapiServer({ dbPath: join(opts.stateDir, 'xcpnet.db'), impls: opts.impls, log, changeLogSize: opts.changeLogSize, timers: opts.timers });
  const generated = await ensureRoot(server.users, opts.rootPassword);
  if (generated) tellRootPassword(generated, opts.stateDir, opts.tty ?? process.stderr.isTTY === true, log);
  const host = bootPool(server, { hostName: opts.hostName });
  if (opts.runDir !== undefined && opts.runDir !== opts.stateDir) privateDir(opts.runDir);
  const socketPath = join(opts.runDir ?? opts.stateDir, 'xapi.sock');
  const listener = await startListener({
    tcp: opts.listen ?? undefined, socketPath,
    // The socket's peer is local and has no address: it is limited per user only.
    handle: (call) => server.handle({ method: call.method, params: call.params, remote: call.source === 'unix' ? undefined : call.source }), lookupClass: findClass,
    onError: (e, where) => log(`xcpnet: ${where}: ${(e as Error)?.stack ?? e}`),
  });
  const controller = startTunnelController(server, opts.timers);
  const agent = opts.localAgent ? await startLocalAgent(server, host, opts.localAgent, log) : undefined;
  // A fresh simulated host comes up as a fresh XCP host does: PIFs for its NICs, management on eth0.
  const hasPifs = [...server.store.all('PIF')].some(([, p]) => p.host === host);
  if (agent && !hasPifs) await initialHostNetworking(server, host);
  for (const hook of opts.afterBoot ?? []) await hook(server, host);
  return {
    server, listener, host, socketPath, agent, controller,
    async close() {
      controller.stop();
      await agent?.stop();
      await listener.close();
      server.close();
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

/** The master's own host's agent, driven through the public API like any other. */
async function startLocalAgent(server: XapiServer, host: string, start: LocalAgentStarter, log: (l: string) => void): Promise<LocalAgent> {
  const uuid = server.store.get('host', host).uuid as string;
  const client = LoopbackClient.open(server, 'xcpnet-local-agent');
  const agent = await start(client, { ref: host, uuid }, (m) => log(`agent: ${m}`));
  await server.hub.wait(host, [], 0);
  return agent;
}
