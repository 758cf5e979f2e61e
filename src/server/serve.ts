// `xcpnet serve`: the pool master. Opens the store, makes sure the pool exists, and serves
// the API over HTTP and the unix socket `<state-dir>/xapi.sock`.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startListener, type Listener } from '../rpc/listener.js';
import { findClass } from '../idl/index.js';
import { bootPool } from './boot.js';
import { ensureRoot } from './sessions.js';
import { XapiServer } from './server.js';
import type { ImplTable } from './context.js';
import { LoopbackClient } from './loopback.js';
import { initialHostNetworking } from './impl/pif.js';
import { startTunnelController } from './impl/controller.js';

export interface ServeOptions {
  stateDir: string;
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
  close(): Promise<void>;
}

export async function startMaster(opts: ServeOptions): Promise<Master> {
  const log = opts.log ?? ((l: string) => console.error(l));
  mkdirSync(opts.stateDir, { recursive: true });
  const server = new XapiServer({ dbPath: join(opts.stateDir, 'xcpnet.db'), impls: opts.impls, log, changeLogSize: opts.changeLogSize });
  const generated = await ensureRoot(server.users, opts.rootPassword);
  if (generated) log(`xcpnet: created user root with password ${generated} (shown once)`);
  const host = bootPool(server, { hostName: opts.hostName });
  const socketPath = join(opts.stateDir, 'xapi.sock');
  const listener = await startListener({
    tcp: opts.listen ?? undefined, socketPath,
    handle: (call) => server.handle(call), lookupClass: findClass,
    onError: (e, where) => log(`xcpnet: ${where}: ${(e as Error)?.stack ?? e}`),
  });
  const controller = startTunnelController(server);
  const agent = opts.localAgent ? await startLocalAgent(server, host, opts.localAgent, log) : undefined;
  // A fresh simulated host comes up as a fresh XCP host does: PIFs for its NICs, management on eth0.
  const hasPifs = [...server.store.all('PIF')].some(([, p]) => p.host === host);
  if (agent && !hasPifs) await initialHostNetworking(server, host);
  for (const hook of opts.afterBoot ?? []) await hook(server, host);
  return {
    server, listener, host, socketPath, agent,
    async close() {
      controller.stop();
      await agent?.stop();
      await listener.close();
      server.close();
    },
  };
}

/** The master's own host's agent, driven through the public API like any other. */
async function startLocalAgent(server: XapiServer, host: string, start: LocalAgentStarter, log: (l: string) => void): Promise<LocalAgent> {
  const uuid = server.store.get('host', host).uuid as string;
  const client = LoopbackClient.open(server, 'xcpnet-local-agent');
  const agent = await start(client, { ref: host, uuid }, (m) => log(`agent: ${m}`));
  await server.hub.wait(host, [], 0);
  return agent;
}
