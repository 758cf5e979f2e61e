// The master's half of OVN: its northbound and southbound databases (two ovsdb-server
// processes) and ovn-northd, in one directory of the master's state, started while the pool's
// other_config:xcpnet-sdn says "ovn"; and the northbound writer, the only writer of xcpnet's
// rows there, through xcpnet's own OVSDB client. The daemons are detached and outlive a crash
// of the master: a master that starts again adopts them (their pidfiles name them), its writer
// finds the rows as it left them and writes nothing.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Store, CommitChange } from '../db/store.js';
import type { Rec } from '../idl/meta.js';
import { OVN_CA_KEY, OVN_CLUSTER_KEY, OVN_REMOTE_KEY, SDN_KEY, isOvnRemote, parseOvnCluster } from '../idl/checks.js';
import { clusterRemote, ovnClusterOf, type OvnCluster } from '../common/ovn-cluster.js';
import { cmdlineOf, ensureClusterMember, livePid, memberFiles, sameListeners, stopAndWait } from '../backends/ovs/ovn-db-member.js';
import { OvsdbClient, type Monitor } from '../backends/ovsdb/index.js';
import * as ops from '../backends/ovsdb/ops.js';
import { desiredNb, planNb, type NbRow } from './ovn-nb.js';
import { CENTRAL_CN, renewedSince, sslOptions, type PkiFiles } from '../common/ovn-pki.js';
import type { OvnCa } from './ovn-ca.js';

const run = promisify(execFile);
const NB_SCHEMA = '/usr/share/ovn/ovn-nb.ovsschema';
const SB_SCHEMA = '/usr/share/ovn/ovn-sb.ovsschema';
/** How often the master looks at its cluster member's servers and ovn-northd. */
const SUPERVISE_MS = 500;
/**
 * How often a running master checks that its own OVN certificate is not near its end (the hosts
 * check theirs every pass); a renewed one is read by the daemons at their next connection.
 */
const RENEW_CHECK_MS = 6 * 3600_000;

export interface OvnCentralOptions {
  /** Directory of the databases, sockets, pidfiles and logs. */
  dir: string;
  /**
   * Also serve the southbound database on this address (`IP:PORT`), for hosts elsewhere: TLS with
   * the pool CA, each chassis limited by OVN's RBAC to its own rows.
   */
  sbListen?: string;
  /** What agents are told to connect to (default: the southbound unix socket, or ssl:<sbListen>). */
  sbRemote?: string;
  /** The pool's OVN CA: the master's own certificate for its databases' TLS, ovn-northd, its clients. */
  ca: OvnCa;
  log: (line: string) => void;
}


/** The pid in `file` if that process is alive and its command line names `dir`. */
function adoptable(file: string, dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return undefined;
    return cmd.includes(dir) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function env(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, OVN_RUNDIR: dir, OVN_DBDIR: dir, OVN_LOGDIR: dir, OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir };
}

/** The southbound database's remotes read from its SB_Global.connections (ovn-sbctl set-connection's). */
const SB_CONNECTIONS = '--remote=db:OVN_Southbound,SB_Global,connections';

/** ovsdb-server's `pssl:PORT:IP` for `IP:PORT`. */
export const passiveSsl = (listen: string): string => `pssl:${listen.replace(/^(.*):(\d+)$/, '$2:$1')}`;

/**
 * Starts (or adopts) NB and SB ovsdb-server and ovn-northd in `dir`; returns the NB and SB
 * sockets. `pki`: the master's certificate (TLS of the southbound listener, of the cluster).
 */
export async function startCentralDaemons(o: OvnCentralOptions, pki: PkiFiles, cluster?: OvnCluster): Promise<{ nb: string; sb: string; pids: number[] }> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const e = env(dir);
  const exec = (cmd: string, args: string[]) => run(cmd, args, { env: e, timeout: 10_000 });
  if (cluster) return startClusterDaemons(dir, cluster, pki, exec);
  const pids: number[] = [];
  // The southbound listener's address and role are in the database (see ensureSbConnection).
  const sbExtra = o.sbListen ? [SB_CONNECTIONS, ...sslOptions(pki)] : [];
  for (const [db, schema, extra] of [['nb', NB_SCHEMA, []], ['sb', SB_SCHEMA, sbExtra]] as const) {
    const file = join(dir, `${db}.db`);
    const pidfile = join(dir, `${db}-ovsdb-server.pid`);
    const have = adoptable(pidfile, dir);
    // One started with other listeners (a plain ptcp: one, before TLS) is started again.
    if (have && sameArgs(have, extra)) { pids.push(have); continue; }
    if (have) await stopAndWait(have);
    if (!existsSync(file)) await exec('ovsdb-tool', ['create', file, schema]);
    await exec('ovsdb-server', [file, `--remote=punix:${join(dir, `${db}.sock`)}`, ...extra, `--pidfile=${pidfile}`, '--detach', '--no-chdir',
      `--log-file=${join(dir, `${db}-ovsdb-server.log`)}`, `--unixctl=${join(dir, `${db}-ovsdb-server.ctl`)}`]);
    pids.push(Number(readFileSync(pidfile, 'utf8').trim()));
  }
  const nb = `unix:${join(dir, 'nb.sock')}`;
  const sb = `unix:${join(dir, 'sb.sock')}`;
  const northdPid = join(dir, 'ovn-northd.pid');
  // A standalone ovn-northd reaches both databases through their unix sockets: no TLS, no role.
  const have = adoptable(northdPid, dir);
  if (have) pids.push(have);
  else {
    await exec('ovn-northd', [`--ovnnb-db=${nb}`, `--ovnsb-db=${sb}`, `--pidfile=${northdPid}`, '--detach', '--no-chdir',
      `--log-file=${join(dir, 'ovn-northd.log')}`, `--unixctl=${join(dir, 'ovn-northd.ctl')}`]);
    pids.push(Number(readFileSync(northdPid, 'utf8').trim()));
  }
  return { nb, sb, pids };
}

/**
 * The master's member of each database's cluster (made from its standalone database, whose
 * server stops first, so the cluster starts with its rows), and ovn-northd on every member.
 */
async function startClusterDaemons(dir: string, cluster: OvnCluster, pki: PkiFiles, exec: (cmd: string, args: string[]) => Promise<unknown>):
  Promise<{ nb: string; sb: string; pids: number[] }> {
  const [self, ...peers] = cluster.members;
  const pids: number[] = [];
  for (const db of ['nb', 'sb'] as const) {
    const standalone = join(dir, `${db}.db`);
    const old = livePid(join(dir, `${db}-ovsdb-server.pid`), standalone);
    if (old) await stopAndWait(old);
    pids.push(await ensureClusterMember(dir, db, { self: self!.address, peers: peers.map((p) => p.address), creator: true }, pki, standalone));
  }
  const nb = clusterRemote(cluster, 'nb');
  const sb = clusterRemote(cluster, 'sb');
  const northdPid = join(dir, 'ovn-northd.pid');
  const args = [`--ovnnb-db=${nb}`, `--ovnsb-db=${sb}`, ...sslOptions(pki)];
  const have = adoptable(northdPid, dir);
  // An ovn-northd that still points at the standalone databases, or holds a certificate since
  // renewed, is started again.
  if (have && (!args.every((a) => cmdlineOf(have).includes(a)) || renewedSince(pki.cert, northdPid))) await stopAndWait(have);
  const running = adoptable(northdPid, dir);
  if (running) pids.push(running);
  else {
    await exec('ovn-northd', [...args, `--pidfile=${northdPid}`, '--detach', '--no-chdir',
      `--log-file=${join(dir, 'ovn-northd.log')}`, `--unixctl=${join(dir, 'ovn-northd.ctl')}`]);
    pids.push(Number(readFileSync(northdPid, 'utf8').trim()));
  }
  return { nb, sb, pids };
}

/** Whether process `pid` was started with every argument of `args` and no other `--remote=`/PKI option. */
const sameArgs = (pid: number, args: readonly string[]): boolean => sameListeners(cmdlineOf(pid), args);

/** The pool's OVN database cluster, if it has one (pool.other_config:xcpnet-ovn-cluster). */
export function poolCluster(store: Store): OvnCluster | undefined {
  let master = '';
  for (const [, p] of store.all('pool')) master = String(p.master);
  return ovnClusterOf(parseOvnCluster(poolConfig(store)[OVN_CLUSTER_KEY] ?? ''), tableOf(store, 'host'), master);
}

/** Stops the daemons of `dir` (only pids whose pidfile is there and whose command line names it). */
export async function stopCentralDaemons(dir: string): Promise<void> {
  const d = resolve(dir);
  for (const f of ['ovn-northd.pid', 'sb-ovsdb-server.pid', 'nb-ovsdb-server.pid']) {
    const pid = adoptable(join(d, f), d);
    if (pid) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
  }
}

/**
 * The southbound database's one network listener, as `ovn-sbctl set-connection
 * role=ovn-controller pssl:…` makes it: TLS, and OVN's RBAC role for chassis, under which each
 * client may change only the rows of the chassis its certificate's CN names (ovn-architecture(7),
 * "Role-Based Access Controls for the Southbound DB"). Written only when it differs.
 */
export async function ensureSbConnection(sb: OvsdbClient, target: string): Promise<void> {
  const [g, c] = await sb.transact('OVN_Southbound', [ops.select('SB_Global', [], ['_uuid', 'connections']), ops.select('Connection', [], ['_uuid', 'target', 'role'])]);
  const globals = g?.rows ?? [];
  const conns = c?.rows ?? [];
  const refs = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
  if (globals.length === 1 && conns.length === 1 && conns[0]!.target === target && conns[0]!.role === 'ovn-controller'
    && refs(globals[0]!.connections).length === 1) return;
  // Connection rows live while SB_Global refers to them: the old ones go with the reference.
  const setConnections = { connections: ['conn'] };
  await sb.transact('OVN_Southbound', [
    ops.insert('Connection', { target, role: 'ovn-controller' }, 'conn'),
    globals.length ? ops.update('SB_Global', [], setConnections) : ops.insert('SB_Global', setConnections),
    ops.comment('xcpnet master: the southbound listener, TLS with the chassis role'),
  ]);
}

const CLASSES = new Set(['network', 'VIF', 'VM', 'PIF', 'tunnel', 'pool', 'host']);

export interface OvnCentral {
  /** Runs a pass now and resolves when it has written (tests, benches). */
  sync(): Promise<{ changes: string[] }>;
  stop(): Promise<void>;
}

const tableOf = (store: Store, cls: string): Record<string, Rec> => Object.fromEntries(store.all(cls));
const poolConfig = (store: Store): Record<string, string> => {
  for (const [, p] of store.all('pool')) return (p.other_config ?? {}) as Record<string, string>;
  return {};
};
export const poolSdn = (store: Store): 'mesh' | 'ovn' => (poolConfig(store)[SDN_KEY] === 'ovn' ? 'ovn' : 'mesh');

/**
 * Follows the pool: while it says OVN, runs the daemons and keeps the northbound database
 * in step with the records (one pass after each burst of commits, one at a time), publishes the
 * southbound address in pool.other_config, and keeps tunnel.status from the southbound chassis.
 */
export function startOvnCentral(store: Store, o: OvnCentralOptions): OvnCentral {
  let nbClient: OvsdbClient | undefined;
  let sbClient: OvsdbClient | undefined;
  let nbMon: Monitor | undefined;
  let sbMon: Monitor | undefined;
  let running: Promise<{ changes: string[] }> | undefined;
  let again = false;
  let stopped = false;
  let starting: Promise<void> | undefined;
  let supervisor: NodeJS.Timeout | undefined;
  let restarting: Promise<unknown> | undefined;

  /**
   * A cluster member of the master's (or ovn-northd) that died is started again, as the agents
   * do for theirs: it rejoins the cluster from its file. The writer meanwhile is on another member.
   */
  const supervise = (): void => {
    supervisor ??= setInterval(() => {
      const cluster = poolCluster(store);
      if (stopped || restarting || !cluster || mode !== modeOf(cluster)) return;
      const dir = resolve(o.dir);
      const dead = (['nb', 'sb'] as const).some((db) => !livePid(memberFiles(dir, db).pidfile, memberFiles(dir, db).file))
        || !adoptable(join(dir, 'ovn-northd.pid'), dir);
      if (!dead) return;
      o.log('ovn: a database member or ovn-northd of the master is not running: starting it again');
      restarting = o.ca.ensureCentral().then((pki) => startCentralDaemons(o, pki, cluster)).catch((e: Error) => o.log(`ovn: ${e.message}`)).finally(() => { restarting = undefined; });
    }, SUPERVISE_MS);
    supervisor.unref();
  };

  /** What the clients are connected to: 'standalone', or the cluster's members. */
  let mode: string | undefined;
  const modeOf = (c: OvnCluster | undefined) => (c ? c.members.map((m) => m.address).join(',') : 'standalone');

  /** Writes `keys` into pool.other_config where they differ. */
  const publish = (keys: Record<string, string>): void => {
    const have = poolConfig(store);
    if (!Object.entries(keys).some(([k, v]) => have[k] !== v)) return;
    store.transact((tx) => {
      for (const [ref, p] of tx.all('pool')) tx.update('pool', ref, { other_config: { ...(p.other_config as Rec), ...keys } });
    });
  };
  // A CA made again (its files lost), by whichever operation (a host's signing request too): the
  // hosts are told at once, and the master's own certificate is renewed under it.
  const unsubscribeCa = o.ca.onNewCa((fingerprint) => {
    if (stopped || poolSdn(store) !== 'ovn') return;
    o.log('ovn: a new pool CA was made: publishing it');
    publish({ [OVN_CA_KEY]: fingerprint });
    o.ca.ensureCentral().catch((e: Error) => o.log(`ovn: the master's certificate under the new CA: ${e.message}`));
  });

  const connect = async (): Promise<void> => {
    const cluster = poolCluster(store);
    const pki = await o.ca.ensureCentral();
    const d = await startCentralDaemons(o, pki, cluster);
    // Clustered: the writer stays on the leader, the southbound reader on any connected member;
    // both move to another member when theirs goes, over TLS with the master's certificate.
    // The servers are the master's (its certificate's CN) and the other members' (their host uuids):
    // a chassis certificate of another host, of the same CA, is not taken for a database.
    const serverNames = cluster ? [CENTRAL_CN, ...cluster.members.map((m) => String(store.find('host', m.host)?.uuid))] : [];
    const opts = (db: string, leaderOnly: boolean) => (cluster
      ? { cluster: { db, leaderOnly }, backoff: { maxBackoffMs: 1000 }, connectTimeoutMs: 20_000, tls: { ...pki, serverNames } } : {});
    nbClient = await OvsdbClient.connect(d.nb, opts('OVN_Northbound', true));
    sbClient = await OvsdbClient.connect(d.sb, opts('OVN_Southbound', false));
    // A pass after every reconnect: one that failed while the connection was down is made good.
    nbClient.session.onState((up) => { if (up) schedule(); });
    mode = modeOf(cluster);
    if (cluster) supervise();
    nbMon = await nbClient.monitor('OVN_Northbound', {
      NB_Global: ['name'],
      Logical_Switch: ['name', 'ports', 'external_ids'],
      Logical_Switch_Port: ['name', 'addresses', 'port_security', 'enabled', 'external_ids'],
    });
    sbMon = await sbClient.monitor('OVN_Southbound', { Chassis: ['name', 'encaps'], Encap: ['ip', 'type'], Port_Binding: ['logical_port', 'chassis'] });
    sbMon.onChange(() => schedule());
    nbMon.onChange(() => schedule());
    if (!cluster && o.sbListen) await ensureSbConnection(sbClient, passiveSsl(o.sbListen));
    const remote = cluster ? d.sb : o.sbRemote ?? (o.sbListen ? `ssl:${o.sbListen}` : d.sb);
    if (!isOvnRemote(remote)) throw new Error(`OVN southbound remote ${remote} is not tcp:IP:PORT, ssl:IP:PORT or unix:/PATH`);
    // Where the agents connect, and which CA their certificates must be of.
    publish({ [OVN_REMOTE_KEY]: remote, [OVN_CA_KEY]: new X509Certificate(readFileSync(pki.ca)).fingerprint256 });
    o.log(`ovn: northbound ${d.nb}, southbound ${d.sb} (agents use ${remote}), ovn-northd running`);
  };

  const pass = async (): Promise<{ changes: string[] }> => {
    if (poolSdn(store) !== 'ovn') return { changes: [] };
    if (nbMon && mode !== modeOf(poolCluster(store))) {
      // The databases became a cluster: the clients reconnect to its members.
      o.log('ovn: the databases become a RAFT cluster');
      nbClient?.close(); sbClient?.close();
      nbMon = undefined; sbMon = undefined;
    }
    if (!nbMon) { starting ??= connect().finally(() => { starting = undefined; }); await starting; }
    const want = desiredNb({ network: tableOf(store, 'network'), VIF: tableOf(store, 'VIF'), PIF: tableOf(store, 'PIF'), tunnel: tableOf(store, 'tunnel') });
    const r = nbMon!.replica;
    const plan = planNb(want, { switches: r.rows('Logical_Switch') as NbRow[], ports: r.rows('Logical_Switch_Port') as NbRow[] });
    const extra = r.rows('NB_Global').length === 0 ? [ops.insert('NB_Global', {})] : [];
    if (plan.ops.length || extra.length) {
      await nbClient!.transact('OVN_Northbound', [...extra, ...plan.ops, ops.comment('xcpnet master: northbound pass')]);
      // The replica holds the result before the next pass looks at it.
      await nbMon!.synced();
      for (const c of plan.changes) o.log(`ovn: ${c}`);
    }
    writeTunnelStatus();
    return { changes: plan.changes };
  };

  /**
   * tunnel.status.active: the host's chassis is up (registered with the tunnel's transport
   * address) and bound (every running VIF of that host on the network is bound to it).
   */
  const writeTunnelStatus = (): void => {
    const sb = sbMon!.replica;
    const encapIp = new Map<string, string>();
    for (const e of sb.rows('Encap')) encapIp.set(String(e._uuid), String(e.ip));
    const chassis = new Map<string, { uuid: string; ips: Set<string> }>();
    for (const ch of sb.rows('Chassis')) {
      const encaps = Array.isArray(ch.encaps) ? ch.encaps : [ch.encaps];
      chassis.set(String(ch.name), { uuid: String(ch._uuid), ips: new Set(encaps.map((e) => encapIp.get(String(e)) ?? '')) });
    }
    const boundTo = new Map<string, string>();
    for (const pb of sb.rows('Port_Binding')) if (typeof pb.chassis === 'string') boundTo.set(String(pb.logical_port), pb.chassis);
    const differ: [string, string][] = [];
    for (const [ref, t] of store.all('tunnel')) {
      const access = store.find('PIF', t.access_PIF as string);
      const transport = store.find('PIF', t.transport_PIF as string);
      const host = store.find('host', access?.host as string);
      const ch = chassis.get(String(host?.uuid));
      const up = !!access && access.currently_attached === true && !!transport && !!ch && ch.ips.has(String(transport.IP));
      const net = store.find('network', access?.network as string);
      const bound = up && ((net?.VIFs ?? []) as string[]).every((v) => {
        const vif = store.find('VIF', v);
        const vm = store.find('VM', vif?.VM as string);
        const here = vif?.currently_attached === true && vm?.power_state === 'Running' && vm.resident_on === access!.host;
        return !here || boundTo.get(String(vif!.uuid)) === ch!.uuid;
      });
      const active = bound ? 'true' : 'false';
      if ((t.status as Rec | undefined)?.active !== active) differ.push([ref, active]);
    }
    if (differ.length) {
      store.transact((tx) => {
        for (const [ref, active] of differ) {
          const cur = tx.find('tunnel', ref);
          if (cur) tx.update('tunnel', ref, { status: { ...(cur.status as Rec), active } });
        }
      });
    }
  };

  const runPass = (): Promise<{ changes: string[] }> => {
    if (running) { again = true; return running; }
    running = pass().catch((e: Error) => { o.log(`ovn: northbound pass failed: ${e.message}`); return { changes: [] }; })
      .finally(() => {
        running = undefined;
        if (again && !stopped) { again = false; schedule(); }
      });
    return running;
  };
  let scheduled = false;
  const schedule = (): void => {
    if (stopped || scheduled) return;
    scheduled = true;
    setImmediate(() => { scheduled = false; if (!stopped) void runPass(); });
  };
  store.onCommit((_g, changes: readonly CommitChange[]) => { if (changes.some((c) => CLASSES.has(c.cls))) schedule(); });
  schedule();
  const renewal = setInterval(() => {
    if (stopped || !nbMon) return;
    o.ca.ensureCentral().catch((e: Error) => o.log(`ovn: renewing the master's certificate: ${e.message}`));
  }, RENEW_CHECK_MS);
  renewal.unref();
  return {
    sync: async () => { while (running) await running; return runPass(); },
    async stop() {
      stopped = true;
      unsubscribeCa();
      if (supervisor) clearInterval(supervisor);
      clearInterval(renewal);
      while (running) await running.catch(() => undefined);
      nbClient?.close();
      sbClient?.close();
    },
  };
}
