// A member of a pool's OVN database cluster (pool.other_config:xcpnet-ovn-cluster): this
// host's northbound and southbound ovsdb-server, each one RAFT member. The master's are made by
// create-cluster (from its standalone databases when it has them, so no row is lost); the other
// members' by join-cluster with the addresses of the rest. Started detached with their pidfiles in
// `dir`; a restarted owner adopts them. Every command is an argv array.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { OVN_DBS, raftAddress, type OvnDb } from '../../common/ovn-cluster.js';
import type { OvnDbMember } from '../contract.js';
import { sslOptions, type PkiFiles } from '../../common/ovn-pki.js';
import type { HostOvnPki } from './ovn-pki.js';

const run = promisify(execFile);
const SCHEMAS: Record<OvnDb, string> = { nb: '/usr/share/ovn/ovn-nb.ovsschema', sb: '/usr/share/ovn/ovn-sb.ovsschema' };
/** How often a supervisor looks at the servers. */
const SUPERVISE_MS = 500;


export const memberFiles = (dir: string, db: OvnDb) => ({
  file: join(dir, `${db}-cluster.db`),
  pidfile: join(dir, `${db}-ovsdb-server.pid`),
  ctl: join(dir, `${db}-ovsdb-server.ctl`),
  sock: join(dir, `${db}.sock`),
  log: join(dir, `${db}-ovsdb-server.log`),
});

/** The pid in `pidfile` if that process is alive (not a zombie) and its command line names `mustName`. */
export function livePid(pidfile: string, mustName: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(mustName) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM to `pid` and waits (bounded) until it is gone. */
export async function stopAndWait(pid: number, timeoutMs = 10_000): Promise<void> {
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return;
    } catch { return; }
    await sleep(50);
  }
  throw new Error(`process ${pid} did not exit within ${timeoutMs} ms of SIGTERM`);
}

/** A member's network listener and PKI options: its client port is TLS with `pki`. */
export const memberListenerArgs = (db: OvnDb, m: OvnDbMember, pki: PkiFiles): string[] =>
  [`--remote=pssl:${OVN_DBS[db].clientPort}:${m.self}`, ...sslOptions(pki)];

/**
 * Pure: whether a server's command line (`/proc/PID/cmdline` split at NULs) has exactly the
 * network listeners and PKI options `want` (its unix socket aside).
 */
export function sameListeners(cmdline: readonly string[], want: readonly string[]): boolean {
  const have = cmdline.filter((a) => /^--(private-key|certificate|ca-cert)=/.test(a) || (a.startsWith('--remote=') && !a.startsWith('--remote=punix:')));
  return have.length === want.length && want.every((a) => have.includes(a));
}

/** A process's arguments (empty when it is gone). */
export const cmdlineOf = (pid: number): string[] => {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { return []; }
};

/**
 * Makes (once) and starts (unless running as wanted) this host's member of `db`'s cluster; returns its pid.
 * One running with other listeners (a plain ptcp: client port, from before TLS) is started again.
 * Its client port and its RAFT port are TLS with `pki` (the peers' certificates must be the
 * pool CA's). `standalone`: the creator's standalone database, whose rows the cluster starts with.
 */
export async function ensureClusterMember(dir: string, db: OvnDb, m: OvnDbMember, pki: PkiFiles, standalone?: string): Promise<number> {
  const d = resolve(dir);
  mkdirSync(d, { recursive: true, mode: 0o700 });
  const f = memberFiles(d, db);
  const listeners = memberListenerArgs(db, m, pki);
  const have = livePid(f.pidfile, f.file);
  if (have && sameListeners(cmdlineOf(have), listeners)) return have;
  if (have) await stopAndWait(have);
  const exec = (cmd: string, args: string[]) => run(cmd, args, { timeout: 10_000 });
  const local = raftAddress(m.self, db);
  if (!existsSync(f.file)) {
    if (m.creator) await exec('ovsdb-tool', ['create-cluster', f.file, standalone && existsSync(standalone) ? standalone : SCHEMAS[db], local]);
    else await exec('ovsdb-tool', ['join-cluster', f.file, OVN_DBS[db].schemaName, local, ...m.peers.map((p) => raftAddress(p, db))]);
  }
  await exec('ovsdb-server', [f.file, `--remote=punix:${f.sock}`, ...listeners,
    `--pidfile=${f.pidfile}`, '--detach', '--no-chdir', `--log-file=${f.log}`, `--unixctl=${f.ctl}`]);
  return Number(readFileSync(f.pidfile, 'utf8').trim());
}

/** An agent's side: keeps this host's members running while the pool wants them (not the master's: its central runs those). */
export class OvnDbMemberRunner {
  private wanted: OvnDbMember | undefined;
  private timer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;

  /** `pki`: this host's certificate, which its members show their peers and clients. */
  constructor(private readonly dir: string, private readonly pki?: HostOvnPki,
    private readonly log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)) {}

  /** Makes this host a member (spec) or none (undefined: its servers stop, their files stay). Returns an error message, if any. */
  async apply(spec: OvnDbMember | undefined): Promise<string | undefined> {
    this.wanted = spec;
    try {
      if (spec) { await this.ensure(); this.supervise(); return undefined; }
      if (this.timer) { clearInterval(this.timer); this.timer = undefined; }
      for (const db of ['nb', 'sb'] as const) {
        const f = memberFiles(this.dir, db);
        const pid = livePid(f.pidfile, f.file);
        if (pid) await stopAndWait(pid);
      }
      return undefined;
    } catch (e) {
      return `OVN database member: ${(e as Error).message}`;
    }
  }

  private ensure(): Promise<void> {
    const spec = this.wanted;
    if (!spec) return Promise.resolve();
    this.starting ??= (async () => {
      if (!this.pki) throw new Error('this host keeps no OVN certificate for the cluster\'s TLS');
      const files = await this.pki.ensure(spec.caFingerprint);
      for (const db of ['nb', 'sb'] as const) await ensureClusterMember(this.dir, db, spec, files);
    })()
      .finally(() => { this.starting = undefined; });
    return this.starting;
  }

  private supervise(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.wanted || this.starting) return;
      if ((['nb', 'sb'] as const).every((db) => livePid(memberFiles(this.dir, db).pidfile, memberFiles(this.dir, db).file))) return;
      this.log('an OVN database member is not running: starting it again');
      this.ensure().catch((e: Error) => this.log(`OVN database member: ${e.message}`));
    }, SUPERVISE_MS);
    this.timer.unref();
  }

  /** The agent stops; the servers keep running (the cluster keeps its member). */
  close(): void {
    if (this.timer) { clearInterval(this.timer); this.timer = undefined; }
  }
}
