// This host as an OVN chassis: the Open_vSwitch row's external_ids that ovn-controller reads
// (system-id, ovn-remote, ovn-encap-type, ovn-encap-ip, ovn-bridge), and ovn-controller itself,
// started detached with its pidfile next to the switch's and started again whenever it dies.
// A restarted agent adopts the running daemon (its pidfile names it): no flow is disturbed.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { OvnChassis } from '../contract.js';
import { renewedSince, sslOptions, usesSsl, type PkiFiles } from '../../common/ovn-pki.js';
import type { HostOvnPki } from './ovn-pki.js';
import { cmdlineOf, sameListeners, stopAndWait } from './ovn-db-member.js';
import type { OvsdbClient } from '../ovsdb/index.js';
import * as ops from '../ovsdb/ops.js';

const run = promisify(execFile);
/** Marks the Open_vSwitch row's OVN keys as xcpnet's (so it removes them only if it set them). */
const MARK = 'xcpnet-ovn';
const KEYS = ['system-id', 'ovn-remote', 'ovn-encap-type', 'ovn-encap-ip', 'ovn-bridge', MARK] as const;
/** How often the supervisor looks at the daemon. */
const SUPERVISE_MS = 500;

/** Pure: the external_ids the Open_vSwitch row should hold for `spec`. */
export function chassisIds(spec: OvnChassis): Record<(typeof KEYS)[number], string> {
  return {
    'system-id': spec.systemId, 'ovn-remote': spec.remote, 'ovn-encap-type': spec.encapTypes.join(','),
    'ovn-encap-ip': spec.encapIp, 'ovn-bridge': spec.bridge, [MARK]: 'true',
  };
}

function alivePid(pidfile: string, mustName: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(mustName) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` runs with exactly the PKI options `ssl` (ovn-controller has no --remote). */
const sameSsl = (pid: number, ssl: string[]): boolean => sameListeners(cmdlineOf(pid), ssl);

export class OvnChassisRunner {
  private wanted = false;
  private timer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private readonly pidfile: string;
  /** ovn-controller's PKI options: its certificate when the southbound remote is ssl:. */
  private ssl: string[] = [];
  private pkiFiles: PkiFiles | undefined;

  /**
   * `ovsdb` is the switch's database (what ovn-controller connects to); `rundir` holds its files;
   * `pki` gives this host's certificate for an ssl: southbound remote.
   */
  constructor(private readonly client: OvsdbClient, private readonly ovsdb: string, private readonly rundir: string,
    private readonly pki?: HostOvnPki,
    private readonly log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)) {
    this.pidfile = join(rundir, 'ovn-controller.pid');
  }

  /** Makes the chassis match `spec` (undefined: not a chassis). Returns an error message, if any. */
  async apply(spec: OvnChassis | undefined): Promise<string | undefined> {
    try {
      const [sel] = await this.client.transact('Open_vSwitch', [ops.select('Open_vSwitch', [], ['external_ids'])]);
      const have = (sel?.rows?.[0]?.external_ids ?? {}) as Record<string, string>;
      const muts: ops.Mutation[] = [];
      if (spec) {
        for (const [k, v] of Object.entries(chassisIds(spec))) if (have[k] !== v) muts.push(...ops.mSetKey('external_ids', k, v));
      } else if (have[MARK] === 'true') {
        muts.push(ops.mDelete('external_ids', KEYS.filter((k) => k in have)));
      }
      if (muts.length) await this.client.transact('Open_vSwitch', [ops.mutate('Open_vSwitch', [], muts), ops.comment('xcpnet-agent: OVN chassis')]);
      this.wanted = spec !== undefined;
      if (spec && usesSsl(spec.remote)) {
        if (!this.pki) throw new Error('the southbound database is ssl: but this host keeps no OVN certificate');
        this.pkiFiles = await this.pki.ensure(spec.caFingerprint);
        this.ssl = sslOptions(this.pkiFiles);
      } else { this.ssl = []; this.pkiFiles = undefined; }
      if (this.wanted) { await this.ensureRunning(); this.supervise(); } else await this.stopDaemon();
      return undefined;
    } catch (e) {
      return `OVN chassis: ${(e as Error).message}`;
    }
  }

  private supervise(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.wanted || this.starting || alivePid(this.pidfile, this.rundir)) return;
      this.log('ovn-controller is not running: starting it again');
      this.ensureRunning().catch((e: Error) => this.log(`ovn-controller: ${e.message}`));
    }, SUPERVISE_MS);
    this.timer.unref();
  }

  private ensureRunning(): Promise<void> {
    const args = [this.ovsdb, ...this.ssl, `--pidfile=${this.pidfile}`, '--detach', '--no-chdir', `--log-file=${join(this.rundir, 'ovn-controller.log')}`];
    const pid = alivePid(this.pidfile, this.rundir);
    // One started without these PKI options (before the databases were behind TLS), or before its
    // certificate was renewed, is started again.
    const renewed = this.pkiFiles !== undefined && renewedSince(this.pkiFiles.cert, this.pidfile);
    if (pid && sameSsl(pid, this.ssl) && !renewed) return Promise.resolve();
    this.starting ??= (async () => {
      if (pid) { this.log(`ovn-controller runs with ${renewed ? 'a certificate since renewed' : 'other TLS options'}: starting it again`); await stopAndWait(pid); }
      await run('ovn-controller', args, { env: { ...process.env, OVN_RUNDIR: this.rundir, OVS_RUNDIR: this.rundir }, timeout: 10_000 });
    })().finally(() => { this.starting = undefined; });
    return this.starting;
  }

  /**
   * No longer a chassis: `exit` makes ovn-controller remove what it made (its tunnel and patch
   * ports on the integration bridge, its chassis in the southbound database), so the driver can
   * then remove the bridge; SIGTERM if it does not answer.
   */
  private async stopDaemon(): Promise<void> {
    if (this.timer) { clearInterval(this.timer); this.timer = undefined; }
    const pid = alivePid(this.pidfile, this.rundir);
    if (!pid) return;
    try {
      await run('ovn-appctl', ['-t', join(this.rundir, `ovn-controller.${pid}.ctl`), 'exit'], { timeout: 10_000 });
    } catch (e) {
      this.log(`ovn-controller did not exit when asked (${(e as Error).message.split('\n')[0]}): SIGTERM`);
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    }
  }

  /** The agent stops; ovn-controller keeps running (its flows with it), as Open vSwitch does. */
  close(): void {
    if (this.timer) { clearInterval(this.timer); this.timer = undefined; }
  }
}
