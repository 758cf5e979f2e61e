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

export interface ServeOptions {
  stateDir: string;
  listen?: { host: string; port: number } | null;
  rootPassword?: string;
  hostName?: string;
  impls?: ImplTable[];
  /** NICs of the simulated local host (fake backend) when the in-process agent runs. */
  fakeNics?: number;
  /** Run no in-process agent (the lab runs one agent per host namespace instead). */
  noAgent?: boolean;
  changeLogSize?: number;
  log?: (line: string) => void;
}

export interface Master {
  server: XapiServer;
  listener: Listener;
  host: string;
  socketPath: string;
  close(): Promise<void>;
}

export async function startMaster(opts: ServeOptions): Promise<Master> {
  const log = opts.log ?? ((l: string) => console.error(l));
  mkdirSync(opts.stateDir, { recursive: true });
  const server = new XapiServer({ dbPath: join(opts.stateDir, 'xcpnet.db'), impls: opts.impls, log, changeLogSize: opts.changeLogSize });
  const generated = ensureRoot(server.users, opts.rootPassword);
  if (generated) log(`xcpnet: created user root with password ${generated} (shown once)`);
  const host = bootPool(server, { hostName: opts.hostName });
  const socketPath = join(opts.stateDir, 'xapi.sock');
  const listener = await startListener({
    tcp: opts.listen ?? undefined, socketPath,
    handle: (call) => server.handle(call), lookupClass: findClass,
    onError: (e, where) => log(`xcpnet: ${where}: ${(e as Error)?.stack ?? e}`),
  });
  return {
    server, listener, host, socketPath,
    async close() { await listener.close(); server.close(); },
  };
}
