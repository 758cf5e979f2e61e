// `xcpnet serve`: the pool master. Opens the store, makes sure the pool exists, and serves
// the API over HTTPS (plain HTTP on loopback, or when told it is insecure) and the unix socket
// `<state-dir>/xapi.sock`.

import { privateDir, writePrivateFile } from '../common/private-files.js';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { ServerResponse } from 'node:http';
import { ovnCaAt, ovnCaDir, type OvnCa } from '../sdn/ovn-ca.js';
import { fingerprintOf, loadOrCreateCertificate, saveCertificate, validateCertificate, type ServerCertificate } from './certificate.js';
import { startListener, type Listener } from '../rpc/listener.js';
import { findClass } from '../idl/index.js';
import { bootPool } from './boot.js';
import { ensureRoot } from './sessions.js';
import { XapiServer, type CallResult } from './server.js';
import { t, type Value } from '../idl/meta.js';
import type { ImplTable } from './context.js';
import { LoopbackClient } from './loopback.js';
import { ApiError } from '../common/api-error.js';
import { assertMayJoin, describeSelf } from './membership.js';
import { connectToMaster, masterTarget, MemberRuntime, readMemberConfig, removeMemberConfig, writeMemberConfig,
  type ManagementConfig, type MasterTrust, type MemberConfig } from './member.js';
import { initialHostNetworking } from './impl/pif.js';
import { trustGiven } from '../protocol/pool-member.js';
import { assertPinsMaster, followMasterAt, RecoverySessions } from './member-recovery.js';
import { recoverImpls } from './recover-slaves.js';
import { startTunnelController, type TunnelController } from './impl/controller.js';
import { topologyPages } from './topology-page.js';
import { blobDestroy, blobStore, type BlobStore } from './blob-http.js';
import type { Clock } from '../common/clock.js';

export interface ServeOptions {
  stateDir: string;
  /** Where the unix socket goes (default: the state directory); made 0700. */
  runDir?: string;
  listen?: { host: string; port: number } | null;
  /**
   * Serve TCP as plain HTTP rather than HTTPS: 'loopback' only on a loopback address (refused
   * elsewhere), 'insecure' on any address. Default: HTTPS.
   */
  http?: 'loopback' | 'insecure';
  /**
   * Also serve HTTPS on this unix socket (0600), as on TCP: password logins, the topology view.
   * For a forwarder on 127.0.0.1 of another network namespace (the lab's, docs/topology-view.md);
   * its calls count as from 127.0.0.1. Needs HTTPS.
   */
  httpsSocketPath?: string;
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
  /**
   * Starts this host's agent against its master once it is a pool member (default: localAgent's,
   * which takes any client). Without either, a member runs no agent.
   */
  memberAgent?: LocalAgentStarter;
  /**
   * Where memberAgent keeps its copy of the pool's configuration of this host: removed when the
   * host leaves the pool, so that a later join does not start from a pool it no longer belongs to.
   */
  memberAgentCacheDir?: string;
  /** How this host trusts a master it joins (TLS: a CA or a pinned fingerprint). */
  masterTrust?: MasterTrust;
  /**
   * Without localAgent: where the credential of this host's own agent (run as its own process) is
   * written, 0600: {"host": REF, "secret": …}. Made when missing or unknown to the database.
   */
  agentCredentialFile?: string;
  /** A member's watch of its master wakes at least this often (s; default 30). */
  memberWatchS?: number;
  changeLogSize?: number;
  /** Run after the pool and the local agent are up (first-boot networking, controllers). */
  afterBoot?: Array<(server: XapiServer, host: string) => Promise<void> | void>;
  log?: (line: string) => void;
  /**
   * Whether standard error is a terminal that the person starting the master watches (default:
   * process.stderr.isTTY): where a generated root password goes (see tellRootPassword).
   */
  tty?: boolean;
  /** A lab's wiring file, shown by the topology view (GET /topology/lab.json); written by `xcpnet lab`. */
  labWiringFile?: string;
  /** Time for the realisation hub and the tunnel controller (default: the system's; tests move it by hand). */
  timers?: Clock;
}

export interface LocalAgent {
  stop(): Promise<void>;
  /**
   * A member's own answer to a call on its local socket (emergency mode, reset-networking), as
   * an XCP member answers them itself while its master is out of reach: a value, or a thrown
   * ApiError.
   */
  answerLocal?(method: string, params: unknown[]): Promise<unknown>;
}

/** The calls a member answers on its local socket instead of naming its master (the agent's local API). */
const MEMBER_LOCAL_METHODS = new Set(['session.login_with_password', 'session.slave_local_login_with_password', 'session.logout',
  'session.local_logout', 'host.is_in_emergency_mode', 'host.local_management_reconfigure', 'host.reset_networking_local']);
/** What an agent calls the API with: this server in-process, or a member's master. */
export interface ApiCaller { call(method: string, ...params: unknown[]): Promise<unknown> }
export type LocalAgentStarter = (client: ApiCaller, host: { ref: string; uuid: string }, log: (l: string) => void) => Promise<LocalAgent>;

export interface Master {
  server: XapiServer;
  listener: Listener;
  host: string;
  socketPath: string;
  /** The in-process agent of the master's own host (absent without localAgent, or while a member). */
  readonly agent?: LocalAgent;
  /** Set while this host is a pool member. */
  readonly member?: MemberConfig;
  /** The pool's tunnel controller (tests run a pass with sync()). */
  readonly controller: TunnelController;
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
  let blobs: BlobStore | undefined;
  const destroyBlobRecord = (opts.impls ?? []).map((table) => table['blob.destroy']).filter((f) => f !== undefined).pop();
  const server = new XapiServer({
    dbPath: join(opts.stateDir, 'xcpnet.db'), log, changeLogSize: opts.changeLogSize, timers: opts.timers,
    impls: [...(opts.impls ?? []), ovnPkiImpls(ovnCaAt(ovnCaDir(opts.stateDir))), certificateImpls(() => server.masterHost(), opts.stateDir, certificate, () => served),
      recoverImpls({ get store() { return server.store; }, get credentials() { return server.credentials; }, masterHost: () => server.masterHost(),
        // Members serve the port the master serves (the hosts of a pool serve the same, as xapi's 443).
        port: () => served?.tcpPort ?? 443, log }),
      blobDestroy(destroyBlobRecord, () => blobs!)],
  });
  blobs = blobStore(server, join(opts.stateDir, 'blobs'));
  const generated = await ensureRoot(server.users, opts.rootPassword);
  if (generated) tellRootPassword(generated, opts.stateDir, opts.tty ?? process.stderr.isTTY === true, log);
  const host = bootPool(server, { hostName: opts.hostName });
  if (opts.runDir !== undefined && opts.runDir !== opts.stateDir) privateDir(opts.runDir);
  const socketPath = join(opts.runDir ?? opts.stateDir, 'xapi.sock');
  const hostUuid = server.store.get('host', host).uuid;
  let member: MemberRuntime | undefined;
  let agent: LocalAgent | undefined;
  /** The member's agent, while this host is a member and its agent runs. */
  let memberLocal: LocalAgent | undefined;
  const recovery = new RecoverySessions();
  /** The certificate this host serves on TCP, for the master's calls to it (pool.recover_slaves). */
  const servedFingerprint = (): string | undefined => (served?.tls && listen ? fingerprintOf(certificate().cert) : undefined);
  /** pool.emergency_reset_master on a member: the membership file first (the agent run apart follows it), then serve. */
  const followMaster = (m: MemberRuntime, address: unknown): void => {
    const was = m.config.master;
    const next = followMasterAt(m.config, address);
    writeMemberConfig(opts.stateDir, next);
    m.follow(next);
    log(`xcpnet: pool.emergency_reset_master: following the master at ${next.master} (was ${was})`);
  };
  /**
   * A member's own answers: on its local socket (trusted, as xapi's) the calls of emergency mode
   * (through its agent) and pool.emergency_reset_master; on TLS, only to the pool master proving
   * itself (pool.recover_slaves, src/server/member-recovery.ts), and a reset only if this member
   * pins its master's certificate by fingerprint. Anything else: HOST_IS_SLAVE.
   */
  const memberAnswer = async (m: MemberRuntime, method: string, params: unknown[], local: boolean): Promise<Value | undefined> => {
    const [session, arg] = params;
    if (!local) {
      switch (method) {
        case 'session.slave_local_login': return recovery.login(params[0], m.config);
        case 'session.logout': case 'session.local_logout':
          if (!recovery.has(session)) return undefined;
          recovery.logout(session);
          return '';
        case 'pool.emergency_reset_master': recovery.check(session); assertPinsMaster(m.config, m.trust); break;
        case 'host.is_in_emergency_mode': recovery.check(session); break;
        default: return undefined;
      }
    }
    if (method === 'pool.emergency_reset_master') { followMaster(m, arg); return ''; }
    if (!memberLocal?.answerLocal || !MEMBER_LOCAL_METHODS.has(method)) return undefined;
    // Passed as the agent answers it (a bool, a session ref, ''), as the agent's own socket does.
    return (await memberLocal.answerLocal(method, params)) as Value;
  };
  const answerAsMember = async (m: MemberRuntime, method: string, params: unknown[], local: boolean): Promise<CallResult> => {
    try {
      const value = await memberAnswer(m, method, params, local);
      return value === undefined ? { ok: false, error: ['HOST_IS_SLAVE', m.config.masterAddress] } : { ok: true, value, ty: t.any };
    } catch (e) {
      return { ok: false, error: e instanceof ApiError ? [e.code, ...e.params] : ['INTERNAL_ERROR', String((e as Error)?.message ?? e)] };
    }
  };
  if (opts.httpsSocketPath !== undefined && opts.http !== undefined) throw new Error('an HTTPS socket needs HTTPS: drop --http or --insecure-http');
  const listener = await startListener({
    tcp: listen, socketPath, httpsSocketPath: opts.httpsSocketPath,
    tls: (listen || opts.httpsSocketPath !== undefined) && opts.http === undefined ? certificate() : undefined,
    // A member answers every call with its master's address, as an XCP pool member does.
    // The socket's peer is local and has no address: it is limited per user only, and trusted
    // as xapi trusts its own socket (only the server's user can connect: the socket is 0600).
    // On its own socket it answers the calls of emergency mode itself (through its agent).
    handle: (call) => member
      ? answerAsMember(member, call.method, call.params, call.source === 'unix')
      : server.handle({
        method: call.method, params: call.params,
        ...(call.source === 'unix' ? { local: true } : { remote: call.source }),
      }),
    // The topology view (GET /topology/): its records come through the API like any client's.
    // Blob contents (GET/PUT /blob?ref=…), streamed to and from the state directory.
    // A member's records are its master's: it serves no blob.
    streams: { '/blob': (req, res) => member ? Promise.resolve(notServed(res, member.config.masterAddress)) : blobs!.handle(req, res) },
    pages: topologyPages({ wiringFile: opts.labWiringFile, sessionValid: (ref) => isLiveSession(server, ref), log }),
    lookupClass: findClass,
    onError: (e, where) => log(`xcpnet: ${where}: ${(e as Error)?.stack ?? e}`),
  });
  served = listener;
  const controller = startTunnelController(server, opts.timers);
  const startStandalone = async (): Promise<void> => {
    agent = opts.localAgent ? await startLocalAgent(server, host, opts.localAgent, log) : undefined;
    // A fresh host comes up as a fresh XCP host does: PIFs for its NICs, management on eth0.
    const hasPifs = server.store.lookup('PIF', 'host', host).length > 0;
    if (agent && !hasPifs) await initialHostNetworking(server, host);
  };
  const memberAgent = opts.memberAgent ?? opts.localAgent;
  const becomeMember = (joined: MemberConfig): void => {
    // The master's certificate is trusted as serve is told now (the operator's current word, e.g.
    // after the master's certificate was replaced), else as at the join. The file carries it for
    // the host's agent run apart (xcpnet agent --membership), which follows the file.
    const cfg = trustGiven(opts.masterTrust) && JSON.stringify(opts.masterTrust) !== JSON.stringify(joined.trust)
      ? { ...joined, trust: { ...opts.masterTrust } } : joined;
    if (cfg !== joined) writeMemberConfig(opts.stateDir, cfg);
    member = new MemberRuntime(cfg, {
      stateDir: opts.stateDir, trust: opts.masterTrust, log, watchTimeoutS: opts.memberWatchS, fingerprint: servedFingerprint(),
      startAgent: async (client) => {
        if (!memberAgent) return { stop: async () => {} };
        memberLocal = await memberAgent(client, { ref: cfg.host, uuid: hostUuid }, (m) => log(`agent: ${m}`));
        return memberLocal;
      },
      onEjected: async (last) => {
        memberLocal = undefined;
        keepManagement(server, host, last.management);
        removeMemberConfig(opts.stateDir);
        if (opts.memberAgentCacheDir !== undefined) rmSync(opts.memberAgentCacheDir, { recursive: true, force: true });
        member = undefined;
        await startStandalone();
        log('xcpnet: left the pool; standalone again');
      },
    });
  };
  server.joinHooks = {
    join: async (_ctx, address, user, password) => {
      const cfg = await joinPool(server, host, address, user, password, opts.masterTrust ?? {}, servedFingerprint());
      writeMemberConfig(opts.stateDir, cfg);
      const was = agent;
      agent = undefined;
      await was?.stop();
      becomeMember(cfg);
      log(`xcpnet: joined the pool of ${cfg.masterAddress} as host ${cfg.hostUuid}`);
    },
  };
  if (opts.agentCredentialFile && (!existsSync(opts.agentCredentialFile) || !server.credentials.has(host))) {
    writePrivateFile(opts.agentCredentialFile, `${JSON.stringify({ host, secret: server.credentials.issue(host) })}\n`);
  }
  const saved = readMemberConfig(opts.stateDir);
  if (saved) becomeMember(saved);
  else await startStandalone();
  for (const hook of opts.afterBoot ?? []) await hook(server, host);
  return {
    server, listener, host, socketPath, controller,
    get agent() { return agent; },
    get member() { return member?.config; },
    fingerprint: () => fingerprintOf(certificate().cert),
    async close() {
      controller.stop();
      await member?.stop();
      await agent?.stop();
      await listener.close();
      server.close();
    },
  };
}

/** A member's answer to a blob request: the master has them (as HOST_IS_SLAVE names it). */
function notServed(res: ServerResponse, master: string): void {
  const text = `HOST_IS_SLAVE ${master}\n`;
  res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), Connection: 'close' });
  res.end(text);
}

function isLiveSession(server: XapiServer, ref: string): boolean {
  try { server.sessions.check(ref); return true; } catch { return false; }
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

/** host.sign_ovn_certificate: the pool OVN CA signs a host's request, naming the host's uuid. */
function ovnPkiImpls(ca: OvnCa): ImplTable {
  return {
    'host.sign_ovn_certificate': (ctx, a) => ca.sign(String(a.csr), String(ctx.services.store.get('host', String(a.host)).uuid)),
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
  const uuid = server.store.get('host', host).uuid;
  const client = LoopbackClient.open(server, 'xcpnet-local-agent');
  const agent = await start(client, { ref: host, uuid }, (m) => log(`agent: ${m}`));
  await server.hub.wait(host, [], 0);
  return agent;
}

/**
 * The joining host's half of pool.join, in xapi's order of checks: reach and log in to the
 * master, not itself, no other hosts, nothing pool-wide of its own, the same API version; then
 * the master takes it in and gives it its credential.
 */
async function joinPool(server: XapiServer, host: string, address: string, user: string, password: string,
  trust: MasterTrust, fingerprint: string | undefined): Promise<MemberConfig> {
  const target = masterTarget(address);
  const client = await connectToMaster(target.url, trust, { user, password });
  try {
    const pools = await client.call<Record<string, { master: string }>>('pool.get_all_records');
    const masterRef = Object.values(pools)[0]?.master ?? '';
    const master = await client.call<{ uuid: string; API_version_major: number; API_version_minor: number }>('host.get_record', masterRef);
    const me = server.store.get('host', host);
    const self = server.store.transact((tx) => {
      if (master.uuid === me.uuid) {
        throw new ApiError('OPERATION_NOT_ALLOWED', [tx.all('host').length > 1 ? 'Host is already part of a pool' : 'Host cannot become slave of itself']);
      }
      assertMayJoin(tx);
      return describeSelf(tx, host);
    });
    const theirs = `${master.API_version_major}.${master.API_version_minor}`;
    const mine = `${me.API_version_major}.${me.API_version_minor}`;
    if (theirs !== mine) throw new ApiError('POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION', [mine, theirs]);
    const got = await client.call<Record<string, unknown>>('pool.admit_host',
      fingerprint === undefined ? self : { ...self, certificate_fingerprint: fingerprint });
    if (typeof got?.host !== 'string' || typeof got.secret !== 'string') throw new ApiError('INTERNAL_ERROR', ['the master answered pool.admit_host without a credential']);
    return { master: target.url, masterAddress: target.hostname, host: got.host, hostUuid: String(me.uuid), secret: got.secret,
      ...(trustGiven(trust) ? { trust: { ...trust } } : {}) };
  } finally {
    await client.close();
  }
}

/** Back to standalone: the management interface as the pool last had it stays. */
function keepManagement(server: XapiServer, host: string, m: ManagementConfig | undefined): void {
  if (!m) return;
  server.store.transact((tx) => {
    const pifs = tx.all('PIF').filter(([, p]) => p.host === host);
    if (!pifs.some(([, p]) => p.device === m.device && p.physical === true)) return;
    for (const [ref, p] of pifs) {
      const mine = p.device === m.device && p.physical === true;
      if (mine) {
        tx.update('PIF', ref, { management: true, currently_attached: true, ip_configuration_mode: m.ip_configuration_mode,
          IP: m.IP, netmask: m.netmask, gateway: m.gateway, DNS: m.DNS });
        tx.update('host', host, { management_bridge: tx.get('network', p.network).bridge! });
      } else if (p.management === true) tx.update('PIF', ref, { management: false });
    }
  });
}
