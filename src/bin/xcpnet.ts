#!/usr/bin/env node
// xcpnet: the pool master (`serve`), the host agent (`agent`), the lab (`lab …`) and helpers.

import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { startMaster } from '../server/serve.js';
import { notOnCommandLine, readPasswordFile } from './password.js';
import { RULES } from '../server/impl/index.js';

const USAGE = `usage: xcpnet <command> [options]

commands:
  serve [--listen HOST:PORT] [--state-dir DIR] [--root-password-file FILE|-] [--fake-nics N] [--no-agent]
        run the pool master: XenAPI over HTTP (default 127.0.0.1:8080) and <state-dir>/xapi.sock;
        root's password: the file's first line, else $XCPNET_ROOT_PASSWORD, else generated at first start
  agent --master URL|SOCKET --host UUID [--ovsdb unix:PATH] [--netns NAME] [--manage-nics] [--state-dir DIR]
        run the host agent that makes the records real on Open vSwitch and Linux
  reset-networking --device NIC --mode dhcp|static [--ip A --netmask M [--gateway G]] [--dns A,B] (--host UUID | --state-dir DIR)
        bring a host back to a management interface on NIC (through its running agent)
  lab up|down|status|env|add-nic|cable|exec|restart-agent …
        build a whole pool in network namespaces
  bridges [--host H]
        show each host's bridges in the layout of brctl show
  user-add NAME ROLE [--password-file FILE|-] [--state-dir DIR]
        create or replace a local user (roles: read-only … pool-admin); the password is the
        file's first line (- reads standard input), else $XCPNET_PASSWORD
`;

function stateDirOf(v: string | undefined): string {
  return resolve(v ?? process.env.XCPNET_STATE_DIR ?? 'var');
}

function parseListen(v: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(v);
  if (!m) throw new Error(`--listen wants HOST:PORT, got ${v}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    listen: { type: 'string', default: '127.0.0.1:8080' },
    'state-dir': { type: 'string' },
    'root-password': { type: 'string' },
    'root-password-file': { type: 'string' },
    'fake-nics': { type: 'string', default: '4' },
    'no-agent': { type: 'boolean', default: false },
    'host-name': { type: 'string' },
  } });
  if (values['root-password'] !== undefined) {
    throw new Error(notOnCommandLine('--root-password', 'use --root-password-file FILE (- for standard input) or XCPNET_ROOT_PASSWORD'));
  }
  const file = values['root-password-file'];
  const rootPassword = file !== undefined ? await readPasswordFile(file, 'Password for root: ') : process.env.XCPNET_ROOT_PASSWORD;
  // Nothing this process starts needs it.
  delete process.env.XCPNET_ROOT_PASSWORD;
  const master = await startMaster({
    stateDir: stateDirOf(values['state-dir']),
    listen: values.listen === 'none' ? null : parseListen(values.listen!),
    rootPassword,
    hostName: values['host-name'],
    impls: RULES,
    fakeNics: Number(values['fake-nics']),
    noAgent: values['no-agent'],
  });
  const port = master.listener.tcpPort;
  console.log(`xcpnet: serving XenAPI on ${port !== undefined ? `http://${values.listen!.replace(/:\d+$/, '')}:${port} and ` : ''}unix:${master.socketPath}`);
  const stop = async () => { await master.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function userAdd(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    'state-dir': { type: 'string' }, 'password-file': { type: 'string' },
  } });
  const [name, role, extra] = positionals;
  const ways = 'use --password-file FILE (- for standard input) or XCPNET_PASSWORD';
  if (extra !== undefined) throw new Error(notOnCommandLine('the password', ways));
  if (!name || !role) throw new Error('usage: xcpnet user-add NAME ROLE [--password-file FILE|-] [--state-dir DIR]');
  const file = values['password-file'];
  const password = file !== undefined ? await readPasswordFile(file, `Password for ${name}: `) : process.env.XCPNET_PASSWORD;
  if (password === undefined || password === '') throw new Error(`no password for ${name}: ${ways}`);
  const { XapiServer } = await import('../server/server.js');
  const { Users } = await import('../server/sessions.js');
  const { join } = await import('node:path');
  const { privateDir } = await import('../common/private-files.js');
  const dir = stateDirOf(values['state-dir']);
  privateDir(dir);
  const server = new XapiServer({ dbPath: join(dir, 'xcpnet.db') });
  new Users(server.store).set(name, password, role as never);
  server.close();
  console.log(`xcpnet: user ${name} (${role}) saved`);
}

/** `xcpnet agent`: one per host; a XenAPI client of the master. Credentials: XE_USER/XE_PASSWORD. */
async function agent(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    master: { type: 'string' }, host: { type: 'string' }, ovsdb: { type: 'string' }, netns: { type: 'string' },
    'manage-nics': { type: 'boolean', default: false }, 'fake-nics': { type: 'string' },
    datapath: { type: 'string' }, 'state-dir': { type: 'string' },
  } });
  if (!values.master || !values.host) throw new Error('usage: xcpnet agent --master URL|SOCKET --host UUID [--ovsdb unix:PATH] [--netns NAME] [--manage-nics] [--state-dir DIR]');
  const { XapiClient } = await import('../client/index.js');
  const { openHostSide, runAgent } = await import('../agent/index.js');
  const target = /^[a-z]+:/.test(values.master) ? values.master : `unix:${resolve(values.master)}`;
  const client = await XapiClient.connect({
    target, user: process.env.XE_USER ?? 'root', password: process.env.XE_PASSWORD ?? process.env.XCPNET_ROOT_PASSWORD ?? '',
    originator: 'xcpnet-agent',
  });
  // The commands the agent runs (ip, ovs tools) need no password in their environment.
  delete process.env.XE_PASSWORD;
  delete process.env.XCPNET_ROOT_PASSWORD;
  const stateDir = resolve(values['state-dir'] ?? join(stateDirOf(undefined), `agent-${values.host}`));
  const { backend, guests } = await openHostSide({
    hostUuid: values.host, ovsdb: values.ovsdb, netns: values.netns, manageNics: values['manage-nics'], stateDir,
    fakeNics: values['fake-nics'] ? Number(values['fake-nics']) : undefined,
    datapath: values.datapath as 'auto' | 'system' | 'netdev' | undefined,
  });
  const log = (m: string): void => { process.stdout.write(`${new Date().toISOString()} ${m}\n`); };
  // Where the agent changes a real host's network (or a lab host's): management changes must
  // prove themselves, DHCP PIFs get a client, the management DNS goes to the host's resolver.
  const real = Boolean(values.netns || values['manage-nics']);
  const { linuxManagementHooks } = await import('../backends/linux/management.js');
  const { DhcpClients } = await import('../backends/linux/dhcp.js');
  const { ResolverFile, resolverPath } = await import('../backends/linux/resolver.js');
  const confirm = real ? linuxManagementHooks({ netns: values.netns, master: target }) : undefined;
  const dhcp = real ? new DhcpClients({ dir: join(stateDir, 'dhcp'), netns: values.netns, log }) : undefined;
  const resolver = real ? new ResolverFile(resolverPath(values.netns), log) : undefined;
  const masterAddress = /^https?:/.test(target) ? new URL(target).hostname : '';
  const running = await runAgent({ client, hostUuid: values.host, backend, guests, log, confirm, dhcp, resolver, masterAddress });
  // The member's own XenAPI socket: emergency mode and reset-networking (xe with XCPNET_STATE_DIR=<state dir>).
  const { serveLocalApi } = await import('../agent/local-api.js');
  const { privateDir } = await import('../common/private-files.js');
  privateDir(stateDir);
  const localApi = await serveLocalApi(join(stateDir, 'xapi.sock'), running.local, log);
  log(`agent for host ${values.host} running (${backend.kind} backend${values.netns ? `, netns ${values.netns}` : ''}); local API on unix:${join(stateDir, 'xapi.sock')}`);
  const stop = async (): Promise<void> => { await localApi.close(); await running.stop(); await dhcp?.close(); await client.close().catch(() => {}); process.exit(0); };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

async function lab(argv: string[]): Promise<void> {
  const { runLabCli } = await import('../lab/index.js');
  process.exitCode = await runLabCli(argv);
}

async function bridges(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { host: { type: 'string' }, 'state-dir': { type: 'string' } } });
  const { XapiClient } = await import('../client/index.js');
  const { formatBrctl } = await import('./bridges.js');
  const client = await XapiClient.connect({
    target: process.env.XE_SERVER ?? `unix:${stateDirOf(values['state-dir'])}/xapi.sock`,
    user: process.env.XE_USER ?? 'root', password: process.env.XE_PASSWORD ?? process.env.XCPNET_ROOT_PASSWORD ?? '',
  });
  try {
    const hosts = await client.call<Record<string, { name_label: string; uuid: string }>>('host.get_all_records');
    const chosen = Object.entries(hosts).filter(([ref, h]) => !values.host || [ref, h.name_label, h.uuid].includes(values.host))
      .sort(([, a], [, b]) => a.name_label.localeCompare(b.name_label));
    if (chosen.length === 0) throw new Error(`no host ${values.host}`);
    for (const [ref, h] of chosen) {
      const rows = await client.call<Parameters<typeof formatBrctl>[0]>('host.get_bridges', ref);
      if (chosen.length > 1) process.stdout.write(`${h.name_label}:\n`);
      process.stdout.write(formatBrctl(rows));
      if (chosen.length > 1) process.stdout.write('\n');
    }
  } finally { await client.close().catch(() => {}); }
}

/**
 * `xcpnet reset-networking`: XCP's xe-reset-networking for a host whose management configuration
 * keeps it from its master: management on NIC `--device` with the given IP configuration, every
 * other PIF down, done at once by the host's running agent (through its local API) and recorded
 * on the master as soon as the agent reaches it.
 */
async function resetNetworking(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    device: { type: 'string' }, mode: { type: 'string' }, ip: { type: 'string' }, netmask: { type: 'string' },
    gateway: { type: 'string' }, dns: { type: 'string' }, host: { type: 'string' }, 'state-dir': { type: 'string' },
  } });
  const mode = values.mode === 'dhcp' ? 'DHCP' : values.mode === 'static' ? 'Static' : undefined;
  if (!values.device || !mode || (!values.host && !values['state-dir']) || (mode === 'Static' && (!values.ip || !values.netmask))) {
    throw new Error('usage: xcpnet reset-networking --device NIC --mode dhcp|static [--ip A --netmask M [--gateway G]] [--dns A,B] (--host UUID | --state-dir AGENT_DIR)');
  }
  const dir = resolve(values['state-dir'] ?? join(stateDirOf(undefined), `agent-${values.host}`));
  const { XapiClient } = await import('../client/index.js');
  const c = await XapiClient.connect({ target: `unix:${join(dir, 'xapi.sock')}`, user: 'root', password: '', originator: 'xcpnet-reset-networking' })
    .catch((e: Error) => { throw new Error(`no agent answers on ${join(dir, 'xapi.sock')} (${e.message}): start the host's agent first`); });
  try {
    await c.call('host.reset_networking_local', values.device, mode, values.ip ?? '', values.netmask ?? '', values.gateway ?? '', values.dns ?? '');
  } finally { await c.close().catch(() => {}); }
  console.log(`xcpnet: management on ${values.device} (${mode}); the agent records it on the master when it reaches it`);
}

const commands: Record<string, (argv: string[]) => Promise<void>> = {
  'reset-networking': resetNetworking,
  serve,
  bridges,
  agent,
  lab,
  'user-add': userAdd,
};

async function main(): Promise<void> {
  // Whatever xcpnet creates (state, database, logs, the lab's files) is for its own user only.
  process.umask(0o077);
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') { process.stdout.write(USAGE); return; }
  const run = commands[cmd];
  if (!run) { process.stderr.write(`xcpnet: unknown command ${cmd}\n${USAGE}`); process.exit(2); }
  await run(rest);
}

main().catch((e: unknown) => {
  process.stderr.write(`xcpnet: ${(e as Error)?.message ?? e}\n`);
  process.exit(1);
});
