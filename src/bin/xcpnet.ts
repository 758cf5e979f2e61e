#!/usr/bin/env node
// xcpnet: the pool master (`serve`), the host agent (`agent`), the lab (`lab …`) and helpers.

import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { startMaster } from '../server/serve.js';
import { notOnCommandLine, readPasswordFile } from './password.js';
import { RULES } from '../server/impl/index.js';
import { hostAgent, simulatedLocalAgent } from './local-agent.js';
import type { LocalAgentStarter } from '../server/serve.js';
import { readNetworkConf } from '../backends/network-conf.js';
import { HOTPLUG_SOCKET_NAME, localSocket, networkConfPath, socketDir, stateDir } from '../common/paths.js';
import { notifyReady, underJournal } from '../common/sd-notify.js';
import { asksHelp, commandHelp, findHelp, overview, version } from './help.js';
import { closest } from '../common/suggest.js';

function stateDirOf(v: string | undefined): string {
  return v !== undefined ? resolve(v) : stateDir();
}

/** An agent's own directory: --state-dir, else agent-<host> in the state directory (never the master's socket). */
function agentDirOf(v: string | undefined, host: string | undefined): string {
  return v !== undefined ? resolve(v) : join(stateDir(), `agent-${host ?? ''}`);
}

function parseListen(v: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(v);
  if (!m) throw new Error(`--listen wants HOST:PORT, got ${v}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    listen: { type: 'string', default: '0.0.0.0:443' },
    http: { type: 'boolean', default: false },
    'insecure-http': { type: 'boolean', default: false },
    'state-dir': { type: 'string' },
    'run-dir': { type: 'string' },
    'https-socket': { type: 'string' },
    'root-password': { type: 'string' },
    'root-password-file': { type: 'string' },
    'fake-nics': { type: 'string', default: '4' },
    'no-agent': { type: 'boolean', default: false },
    'host-name': { type: 'string' },
    'master-ca-file': { type: 'string' },
    'master-fingerprint': { type: 'string' },
    'agent-credential-file': { type: 'string' },
    'ovn-sb-listen': { type: 'string' },
    'lab-wiring': { type: 'string' },
    'manage-nics': { type: 'boolean', default: false },
    netns: { type: 'string' },
    ovsdb: { type: 'string' },
    'network-conf': { type: 'string' },
  } });
  if (values['root-password'] !== undefined) {
    throw new Error(notOnCommandLine('--root-password', 'use --root-password-file FILE (- for standard input) or XCPNET_ROOT_PASSWORD'));
  }
  const file = values['root-password-file'];
  const rootPassword = file !== undefined ? await readPasswordFile(file, 'Password for root: ') : process.env.XCPNET_ROOT_PASSWORD;
  // Nothing this process starts needs it.
  delete process.env.XCPNET_ROOT_PASSWORD;
  const stateDir = stateDirOf(values['state-dir']);
  const master = await startMaster({
    stateDir, runDir: values['run-dir'] !== undefined ? resolve(values['run-dir']) : socketDir(stateDir),
    listen: values.listen === 'none' ? null : parseListen(values.listen!),
    http: values['insecure-http'] ? 'insecure' : values.http ? 'loopback' : undefined,
    ...(values['https-socket'] !== undefined ? { httpsSocketPath: resolve(values['https-socket']) } : {}),
    rootPassword,
    hostName: values['host-name'],
    // How this host trusts a master it joins with xe pool-join (and then, as a member, logs in to).
    masterTrust: {
      ca: values['master-ca-file'] ? readFileSync(values['master-ca-file'], 'utf8') : undefined,
      fingerprint: values['master-fingerprint'] || undefined,
    },
    impls: RULES,
    ...serveAgents(values, stateDir),
    agentCredentialFile: values['agent-credential-file'] !== undefined ? resolve(values['agent-credential-file']) : undefined,
    labWiringFile: values['lab-wiring'] !== undefined ? resolve(values['lab-wiring']) : undefined,
  });
  const port = master.listener.tcpPort;
  const scheme = master.listener.tls ? 'https' : 'http';
  // One write: whoever waits for the serving line has the fingerprint with it.
  const fingerprint = master.listener.tls ? `\nxcpnet: TLS certificate SHA-256 fingerprint ${master.fingerprint()}` : '';
  const serving = `serving XenAPI on ${port !== undefined ? `${scheme}://${values.listen!.replace(/:\d+$/, '')}:${port} and ` : ''}unix:${master.socketPath}`;
  console.log(`xcpnet: ${serving}${fingerprint}`);
  await notifyReady(serving).catch((e: Error) => console.error(`xcpnet: readiness not notified to systemd: ${e.message}`));
  // The pool's OVN central (idle until pool.other_config:xcpnet-sdn says ovn); a member runs none.
  const { startOvnCentral } = await import('../sdn/ovn-central.js');
  const { ovnCaAt, ovnCaDir } = await import('../sdn/ovn-ca.js');
  const { isOvnRemote } = await import('../idl/checks.js');
  const sbListen = values['ovn-sb-listen'];
  if (sbListen !== undefined && !isOvnRemote(`tcp:${sbListen}`)) throw new Error(`--ovn-sb-listen ${sbListen}: give IPv4:PORT`);
  const ovn = master.member ? undefined : startOvnCentral(master.server.store, {
    dir: join(stateDir, 'ovn'), sbListen, ca: ovnCaAt(ovnCaDir(stateDir)), log: (l) => console.error(`xcpnet: ${l}`),
  });
  const stop = async () => { await ovn?.stop(); await master.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * The agent `serve` runs for its own host: the simulated one by default; the real one (its
 * network.conf's backend) with --manage-nics or --netns. As a pool member the real agent keeps
 * its copy of the host's configuration in <state-dir>/agent, so it can start while its master
 * cannot be reached.
 */
function serveAgents(values: { 'no-agent'?: boolean; 'fake-nics'?: string; 'manage-nics'?: boolean; netns?: string; ovsdb?: string;
  'network-conf'?: string }, stateDir: string): { localAgent?: LocalAgentStarter; memberAgent?: LocalAgentStarter; memberAgentCacheDir?: string } {
  if (values['no-agent']) return {};
  if (!values['manage-nics'] && values.netns === undefined) return { localAgent: simulatedLocalAgent(Number(values['fake-nics'])) };
  const conf = values['network-conf'] !== undefined ? resolve(values['network-conf']) : networkConfPath({ ...process.env, XCPNET_STATE_DIR: stateDir });
  const real = { backend: readNetworkConf(conf, (l) => console.error(`xcpnet: ${l}`)), ovsdb: values.ovsdb, netns: values.netns,
    manageNics: values['manage-nics'] };
  const cacheDir = join(stateDir, 'agent');
  // The host's OVN key and certificate, the same whether the host is standalone, master or member.
  const ovnPkiDir = join(stateDir, 'agent', 'ovn-pki');
  return { localAgent: hostAgent({ ...real, ovnPkiDir }), memberAgent: hostAgent({ ...real, cacheDir, ovnPkiDir }), memberAgentCacheDir: cacheDir };
}

/** `xcpnet cert-fingerprint`: what a client pins (also shown by `xe host-get-server-certificate`). */
async function certFingerprint(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { 'state-dir': { type: 'string' } } });
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { CERT_FILE, fingerprintOf } = await import('../server/certificate.js');
  const file = join(stateDirOf(values['state-dir']), CERT_FILE);
  let pem: string;
  try { pem = readFileSync(file, 'utf8'); } catch { throw new Error(`no certificate at ${file}: it is made when xcpnet serve first starts with HTTPS`); }
  console.log(fingerprintOf(pem));
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

/**
 * `xcpnet agent`: one per host; a XenAPI client of the master with its host credential. It starts
 * whether or not the master answers, logs in again when the master restarts, and keeps the last
 * configuration it realised in <state-dir>/agent.
 */
async function agent(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    master: { type: 'string' }, host: { type: 'string' }, ovsdb: { type: 'string' }, netns: { type: 'string' },
    'ca-file': { type: 'string' }, fingerprint: { type: 'string' },
    'manage-nics': { type: 'boolean', default: false }, 'fake-nics': { type: 'string' },
    datapath: { type: 'string' }, 'network-conf': { type: 'string' }, 'state-dir': { type: 'string' },
    'credential-file': { type: 'string' }, 'hotplug-socket': { type: 'string' }, membership: { type: 'string' },
  } });
  if (!values.master || !values.host) throw new Error(`usage: xcpnet agent ${findHelp('agent')!.args}`);
  const { XapiClient } = await import('../client/index.js');
  const { runAgent, isDesired } = await import('../agent/index.js');
  const { openHostSide } = await import('../backends/open.js');
  const { readNetworkConf } = await import('../backends/network-conf.js');
  const { MasterLink } = await import('../agent/master-link.js');
  const { MembershipLink } = await import('../agent/membership.js');
  const { FileHostCache } = await import('../agent/host-cache.js');
  const { join } = await import('node:path');
  const { readFileSync } = await import('node:fs');
  // The journal stamps each line itself.
  const stamp = !underJournal();
  const log = (m: string): void => { process.stdout.write(stamp ? `${new Date().toISOString()} ${m}\n` : `${m}\n`); };
  const backendName = readNetworkConf(values['network-conf'] ?? (values['state-dir'] !== undefined ? resolve(values['state-dir'], 'network.conf') : networkConfPath()), log);
  const target = /^[a-z]+:/.test(values.master) ? values.master : `unix:${resolve(values.master)}`;
  const file = values['credential-file'];
  const text = file !== undefined ? readFileSync(resolve(file), 'utf8') : process.env.XCPNET_HOST_CREDENTIAL;
  if (text === undefined) throw new Error('the agent logs in with its host credential: --credential-file FILE or $XCPNET_HOST_CREDENTIAL');
  const cred = JSON.parse(text) as { host?: unknown; secret?: unknown };
  if (typeof cred.host !== 'string' || typeof cred.secret !== 'string') throw new Error('a host credential is {"host": REF, "secret": SECRET}');
  const hostCredential = { host: cred.host, secret: cred.secret };
  // The commands the agent runs (ip, ovs tools) need no secret in their environment; the link
  // keeps the credential to log in again after the master restarts.
  for (const k of ['XCPNET_HOST_CREDENTIAL', 'XE_PASSWORD', 'XCPNET_ROOT_PASSWORD']) delete process.env[k];
  const caFile = values['ca-file'] ?? process.env.XE_CA_FILE;
  const pinned = values.fingerprint ?? process.env.XE_FINGERPRINT;
  const trust = { ca: caFile ? readFileSync(caFile, 'utf8') : undefined, fingerprint: pinned || undefined };
  const connect = (p: { target: string; credential: { host: string; secret: string }; trust: { ca?: string; fingerprint?: string } }) =>
    XapiClient.connect({ target: p.target, user: '', password: '', hostCredential: p.credential, originator: 'xcpnet-agent', trust: p.trust });
  // --membership: the host's pool membership as its serve keeps it; the agent follows it (a join,
  // an eject, a rotated secret) without a restart. Without it, always --master.
  const own = { target, credential: hostCredential, trust, masterAddress: /^https?:/.test(target) ? new URL(target).hostname : '', member: false };
  const link = values.membership !== undefined
    ? new MembershipLink(resolve(values.membership), own, connect, log)
    : new MasterLink(() => connect(own));
  const place = () => (link instanceof MembershipLink ? link.current : own);
  if (place().member) log(`this host is a pool member: its master is ${place().target} (host ${place().credential.host})`);
  // The agent's own files (NIC order, DHCP leases, its local XenAPI socket).
  const agentDir = agentDirOf(values['state-dir'], values.host);
  const { backend, guests, health } = await openHostSide({
    hostUuid: values.host, backend: backendName, ovsdb: values.ovsdb, netns: values.netns, manageNics: values['manage-nics'], stateDir: agentDir,
    // The pool CA signs this host's OVN certificate, asked for with the host credential.
    ovnSigner: async (csr) => String(await link.call('host.sign_ovn_certificate', place().credential.host, csr)),
    fakeNics: values['fake-nics'] ? Number(values['fake-nics']) : undefined,
    datapath: values.datapath as 'auto' | 'system' | 'netdev' | undefined,
  });
  // A copy saved under another host ref is another pool's: not realised (see host-cache.ts).
  const cache = new FileHostCache(join(stateDirOf(values['state-dir']), 'agent'), values.host, isDesired, log, place().credential.host);
  // Where the agent changes a real host's network (or a lab host's): management changes must
  // prove themselves, DHCP PIFs get a client, the management DNS goes to the host's resolver.
  const real = Boolean(values.netns || values['manage-nics']);
  const { linuxManagementHooks } = await import('../backends/linux/management.js');
  const { DhcpClients } = await import('../backends/linux/dhcp.js');
  const { ResolverFile, resolverPath } = await import('../backends/linux/resolver.js');
  const confirm = real ? linuxManagementHooks({ netns: values.netns, master: () => place().target }) : undefined;
  const dhcp = real ? new DhcpClients({ dir: join(agentDir, 'dhcp'), netns: values.netns, log }) : undefined;
  const resolver = real ? new ResolverFile(resolverPath(values.netns), log) : undefined;
  const masterAddress = () => place().masterAddress;
  // Guests of a real hypervisor (hotplug entry point, adoption) on a host of its own (the lab's or
  // --manage-nics), beside the netns driver, which keeps the VMs started through the API.
  const hv = real ? await openHypervisor({
    netns: values.netns, hasInnerDriver: true, stateDir: stateDirOf(values['state-dir']), socket: values['hotplug-socket'], log,
  }) : undefined;
  const running = await runAgent({ client: link, hostUuid: values.host, backend, guests, log, cache, health, confirm, dhcp, resolver, masterAddress, hypervisor: hv?.guests });
  // The member's own XenAPI socket: emergency mode and reset-networking (xe with XCPNET_STATE_DIR=<agent dir>).
  const { serveLocalApi } = await import('../agent/local-api.js');
  const { privateDir } = await import('../common/private-files.js');
  privateDir(agentDir);
  const localApi = await serveLocalApi(join(agentDir, 'xapi.sock'), running.local, log);
  log(`agent for host ${values.host} running (${backend.kind} backend${values.netns ? `, netns ${values.netns}` : ''}; master ${place().target}${values.membership !== undefined ? `, following ${resolve(values.membership)}` : ''}); local API on unix:${join(agentDir, 'xapi.sock')}`);
  await notifyReady(`agent for host ${values.host} running`).catch((e: Error) => log(`readiness not notified to systemd: ${e.message}`));
  const stop = async (): Promise<void> => { await hv?.socket.close(); await localApi.close(); await running.stop(); await dhcp?.close(); health?.close(); await link.close(); process.exit(0); };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

/** The hypervisor guest driver and its hotplug socket (docs/guests.md). */
async function openHypervisor(o: { netns?: string; hasInnerDriver: boolean; stateDir: string; socket?: string; log: (m: string) => void }) {
  const { HypervisorGuests } = await import('../agent/hypervisor.js');
  const { FileHypervisorStore } = await import('../agent/hypervisor-store.js');
  const { serveHotplug } = await import('../agent/hotplug-socket.js');
  const { Ip } = await import('../backends/linux/ip.js');
  const { join } = await import('node:path');
  const ip = new Ip(o.netns);
  const guests = new HypervisorGuests({
    hasInnerDriver: o.hasInnerDriver, log: o.log, store: new FileHypervisorStore(join(o.stateDir, 'agent'), o.log),
    links: async () => new Set((await ip.json<{ ifname: string }[]>('link', 'show')).map((l) => l.ifname)),
  });
  // By default in the agent's own 0700 directory, beside its copy of the host configuration.
  const path = o.socket !== undefined ? resolve(o.socket) : join(o.stateDir, 'agent', HOTPLUG_SOCKET_NAME);
  const socket = await serveHotplug(path, (r) => guests.handle(r), o.log);
  o.log(`hotplug entry point (xcpnet vif-hotplug) on ${path}`);
  return { guests, socket };
}

async function lab(argv: string[]): Promise<void> {
  const { runLabCli } = await import('../lab/index.js');
  process.exitCode = await runLabCli(argv);
}

/** `xcpnet bridges`: brctl show's table per host, then what each bridge is (network, VLAN, bond, tunnels, VIFs). */
async function bridges(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { host: { type: 'string' }, name: { type: 'string' }, 'state-dir': { type: 'string' } } });
  const { connectToPool } = await import('../lab/index.js');
  const { gatherFacts } = await import('../lab/facts.js');
  const { buildTopology, formatBridgeLabels } = await import('../lab/topology-model.js');
  const { formatBrctl } = await import('./bridges.js');
  const { client, lab } = await connectToPool({ name: values.name, ...(values['state-dir'] !== undefined ? { socket: `${resolve(values['state-dir'])}/xapi.sock` } : {}) });
  try {
    const facts = await gatherFacts(client, lab);
    const chosen = Object.entries(facts.records.host)
      .filter(([ref, h]) => !values.host || [ref, h.name_label, h.uuid].includes(values.host))
      .sort(([, a], [, b]) => String(a.name_label).localeCompare(String(b.name_label), 'en', { numeric: true }));
    if (chosen.length === 0) {
      throw new Error(`no host ${values.host}; hosts: ${Object.values(facts.records.host).map((h) => String(h.name_label)).sort().join(', ')}`);
    }
    const topo = buildTopology(facts);
    for (const [ref, h] of chosen) {
      const rows = await client.call<Parameters<typeof formatBrctl>[0]>('host.get_bridges', ref);
      if (chosen.length > 1) process.stdout.write(`${String(h.name_label)}:\n`);
      process.stdout.write(formatBrctl(rows));
      const node = topo.hosts.find((x) => x.uuid === h.uuid);
      if (node) process.stdout.write(`\n${formatBridgeLabels(node)}`);
      if (chosen.length > 1) process.stdout.write('\n');
    }
  } finally { await client.close().catch(() => {}); }
}

/** `xcpnet explain A B`: whether A reaches B at layer 2; exit status 0 when it does, 1 when not. */
async function explainCmd(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { name: { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean', default: false } } });
  if (positionals.length !== 2) throw new Error(`usage: xcpnet explain ${findHelp('explain')!.args} (VMs by name-label or uuid, or VIF uuids)`);
  const { connectToPool } = await import('../lab/index.js');
  const { gatherFacts } = await import('../lab/facts.js');
  const { explain, formatExplanation } = await import('../lab/explain.js');
  const { client, lab } = await connectToPool({ name: values.name, ...(values['state-dir'] !== undefined ? { socket: `${resolve(values['state-dir'])}/xapi.sock` } : {}) });
  try {
    const e = explain(await gatherFacts(client, lab), positionals[0]!, positionals[1]!);
    process.stdout.write(values.json ? `${JSON.stringify(e, null, 2)}\n` : formatExplanation(e));
    if (!e.reachable) process.exitCode = 1;
  } finally { await client.close().catch(() => {}); }
}

/** `xcpnet trace A B`: one frame from A to B through a lab, hop by hop, with ofproto/trace. */
async function traceCmd(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { name: { type: 'string' }, 'state-dir': { type: 'string' } } });
  if (positionals.length !== 2) throw new Error(`usage: xcpnet trace ${findHelp('trace')!.args} (VMs by name-label or uuid, or VIF uuids)`);
  const { connectToPool } = await import('../lab/index.js');
  const { gatherFacts } = await import('../lab/facts.js');
  const { walkFrame, formatHops } = await import('../lab/trace.js');
  const name = values.name ?? process.env.XCPNET_LAB ?? 'lab';
  const { client, lab } = await connectToPool({ name, stateDir: values['state-dir'] });
  try {
    if (!lab) throw new Error('xcpnet trace follows a frame through a lab\'s hosts: --name L');
    const hops = await walkFrame(await gatherFacts(client, lab), lab, positionals[0]!, positionals[1]!);
    process.stdout.write(formatHops(hops));
  } finally { await client.close().catch(() => {}); }
}

/** `xcpnet switch-network-backend bridge|openvswitch`: as XCP's xe-switch-network-backend. */
async function switchNetworkBackend(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    'network-conf': { type: 'string' }, 'state-dir': { type: 'string' },
  } });
  const { parseNetworkConf, writeNetworkConf } = await import('../backends/network-conf.js');
  const backend = positionals.length === 1 ? parseNetworkConf(positionals[0]!) : undefined;
  if (!backend) throw new Error('usage: xcpnet switch-network-backend bridge|openvswitch [--network-conf PATH] [--state-dir DIR]');
  const path = values['network-conf'] ?? (values['state-dir'] !== undefined ? resolve(values['state-dir'], 'network.conf') : networkConfPath());
  writeNetworkConf(path, backend);
  console.log(`xcpnet: network backend ${backend} written to ${path}; restart the host's agent to use it`);
}

async function installServicesCmd(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { root: { type: 'string' }, master: { type: 'string' }, host: { type: 'string' } } });
  const { installServices } = await import('./services.js');
  await installServices({ root: values.root !== undefined ? resolve(values.root) : undefined, master: values.master, host: values.host, log: (l) => console.log(`xcpnet: ${l}`) });
}

async function removeServicesCmd(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { root: { type: 'string' } } });
  const { removeServices } = await import('./services.js');
  await removeServices({ root: values.root !== undefined ? resolve(values.root) : undefined, log: (l) => console.log(`xcpnet: ${l}`) });
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
  const dir = agentDirOf(values['state-dir'], values.host);
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
  'install-services': installServicesCmd,
  'remove-services': removeServicesCmd,
  'switch-network-backend': switchNetworkBackend,
  bridges,
  explain: explainCmd,
  trace: traceCmd,
  agent,
  lab,
  'user-add': userAdd,
  'cert-fingerprint': certFingerprint,
  'vif-hotplug': async (argv) => { const { vifHotplug } = await import('./vif-hotplug.js'); process.exitCode = await vifHotplug(argv); },
};

async function main(): Promise<void> {
  // Whatever xcpnet creates (state, database, logs, the lab's files) is for its own user only.
  process.umask(0o077);
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') { process.stdout.write(overview()); return; }
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') { process.stdout.write(`xcpnet ${version()}\n`); return; }
  const run = commands[cmd];
  if (!run) {
    const near = closest(cmd, Object.keys(commands));
    process.stderr.write(`xcpnet: unknown command ${cmd}${near ? `; did you mean xcpnet ${near}?` : ''}\n${overview()}`);
    process.exit(2);
  }
  // `lab` has subcommands and prints their help itself.
  if (cmd !== 'lab' && asksHelp(rest)) { process.stdout.write(commandHelp(findHelp(cmd)!)); return; }
  await run(rest);
}

main().catch((e: unknown) => {
  const code = (e as { code?: unknown })?.code;
  // An option parseArgs does not know: show where the command's options are listed.
  const [cmd, sub] = process.argv.slice(2);
  const hint = typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')
    ? ` (xcpnet ${cmd === 'lab' && sub ? `lab ${sub}` : cmd} --help lists its options)` : '';
  process.stderr.write(`xcpnet: ${(e as Error)?.message ?? e}${hint}\n`);
  process.exit(code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ? 2 : 1);
});
