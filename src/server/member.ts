// A pool member's side of membership: the file that says this host belongs to a pool (its
// master, its host ref and its credential, 0600 in the state directory), the one place a host
// connects to its master, and the runtime of a member: its agent against the master, a watch
// that collects a rotated credential, and the return to standalone when the master forgets it.

import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { XapiClient } from '../client/xapi-client.js';
import { ApiError } from '../common/api-error.js';
import { writePrivateFile } from '../common/private-files.js';
import { MEMBER_FILE, parseMemberConfig, type ManagementConfig, type MasterTrust, type MemberConfig } from '../protocol/pool-member.js';

// The file's format is shared with the host's agent run apart, which follows it.
export { MEMBER_FILE, type ManagementConfig, type MasterTrust, type MemberConfig } from '../protocol/pool-member.js';

export function readMemberConfig(stateDir: string): MemberConfig | undefined {
  const file = join(stateDir, MEMBER_FILE);
  if (!existsSync(file)) return undefined;
  return parseMemberConfig(readFileSync(file, 'utf8'), file);
}

/**
 * Written aside and renamed over the old file: the host's agent, which follows the file, reads
 * the old content or the new one, never none (it would take the host for standalone) or half.
 */
export function writeMemberConfig(stateDir: string, c: MemberConfig): void {
  const file = join(stateDir, MEMBER_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writePrivateFile(tmp, `${JSON.stringify(c, null, 2)}\n`);
  renameSync(tmp, file);
}

export function removeMemberConfig(stateDir: string): void { rmSync(join(stateDir, MEMBER_FILE), { force: true }); }

/** The URL of a master given as xe's master-address: ADDRESS, ADDRESS:PORT (HTTPS, as xapi) or a URL. */
export function masterTarget(address: string): { url: string; hostname: string } {
  let url: URL;
  try {
    url = new URL(address.includes('://') ? address : `https://${address}`);
  } catch {
    throw new ApiError('INVALID_VALUE', ['master_address', address]);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || (url.pathname !== '/' && url.pathname !== '')) {
    throw new ApiError('INVALID_VALUE', ['master_address', address]);
  }
  return { url: `${url.protocol}//${url.host}`, hostname: url.hostname.replace(/^\[|\]$/g, '') };
}

/**
 * The one place a host connects to its master, for joining (a user's name and password) and as a
 * member (its host credential). A master that cannot be reached is POOL_JOINING_HOST_CONNECTION_FAILED;
 * the master's own refusals (a wrong password…) come through as they are.
 */
export async function connectToMaster(url: string, trust: MasterTrust,
  cred: { user: string; password: string } | { host: string; secret: string }): Promise<XapiClient> {
  // The client is loaded by a host that joins or is a member, not at every start of a master.
  const [{ XapiClient }, { UntrustedCertificate }] = await Promise.all([import('../client/xapi-client.js'), import('../client/trust.js')]);
  try {
    return await XapiClient.connect('host' in cred
      ? { target: url, user: '', password: '', hostCredential: cred, originator: 'xcpnet-member', trust }
      : { target: url, user: cred.user, password: cred.password, originator: 'xcpnet-pool-join', trust });
  } catch (e) {
    if (ApiError.is(e)) throw e;
    // The master's certificate is not trusted: say which one it presented, so it can be pinned.
    if (e instanceof UntrustedCertificate) throw new ApiError('SSL_VERIFY_ERROR', [e.message]);
    throw new ApiError('POOL_JOINING_HOST_CONNECTION_FAILED', []);
  }
}

export interface MemberRuntimeOptions {
  stateDir: string;
  trust?: MasterTrust;
  /** Starts the host's agent with a client of the master. */
  startAgent(client: { call(method: string, ...params: unknown[]): Promise<unknown> }): Promise<{ stop(): Promise<void> }>;
  /** The master no longer knows this host (pool.eject, host.destroy): become standalone. */
  onEjected(cfg: MemberConfig): Promise<void>;
  log(line: string): void;
  /**
   * The fingerprint of the TLS certificate this host serves, recorded on the master after each
   * login (host.report_server_certificate) so that pool.recover_slaves can call it; absent without TLS.
   */
  fingerprint?: string;
  /** event.from's wait (s); the watch wakes at least this often to look for a new credential. */
  watchTimeoutS?: number;
}

/** Waits between attempts to reach the master: 1 s doubling to 5 s (as the agent's own retries). */
const RETRY_MS = { first: 1000, max: 5000 };

/** A member: its agent against the master, and the watch. */
export class MemberRuntime {
  private client: XapiClient | undefined;
  private agent: { stop(): Promise<void> } | undefined;
  private stopped = false;
  /** Bumped when the membership moves to another address (follow): a login begun before is dropped. */
  private moves = 0;
  private readonly done: Promise<void>;

  constructor(private cfg: MemberConfig, private readonly o: MemberRuntimeOptions) {
    this.done = this.run().catch((e: unknown) => o.log(`member: ${(e as Error)?.stack ?? e}`));
  }

  get config(): MemberConfig { return this.cfg; }

  /** How this member trusts its master's certificate: as its membership says, else as serve was told. */
  get trust(): MasterTrust { return this.cfg.trust ?? this.o.trust ?? {}; }

  /**
   * Follows the master at the address `cfg` names from now on (pool.emergency_reset_master): the
   * session with the old address is closed (a call in flight on it fails), and the next login, with
   * the agent's calls behind it, goes to the new one.
   */
  follow(cfg: MemberConfig): void {
    this.cfg = cfg;
    this.moves++;
    // Not closed with a logout: the old address may not answer, and the watch's long poll and the
    // agent's calls on that session must fail now, not when TCP gives up.
    this.client?.abandon();
    this.client = undefined;
  }

  /** A session with the master; this host's certificate is recorded there first. */
  private async login(): Promise<XapiClient> {
    const c = await connectToMaster(this.cfg.master, this.trust, { host: this.cfg.host, secret: this.cfg.secret });
    await this.reportCertificate(c);
    return c;
  }

  private async run(): Promise<void> {
    let wait = RETRY_MS.first;
    while (!this.stopped) {
      const movesBefore = this.moves;
      try {
        if (!this.agent) {
          // Started before the master is reached: it realises its copy of the host's last
          // configuration (the management interface the master may be reached by) and retries its
          // calls until there is a session. It goes through whichever session is current.
          this.agent = await this.o.startAgent({ call: (m, ...p) => this.current().call(m, ...p) });
        }
        if (!this.client) {
          const moves = this.moves;
          const fresh = await this.login();
          // The master moved while this login went to the old address: the new one is tried now.
          if (moves !== this.moves) { fresh.abandon(); continue; }
          this.client = fresh;
          wait = RETRY_MS.first;
        }
        await this.watch();
      } catch (e) {
        if (this.stopped) return;
        if (ApiError.is(e) && e.code === 'HANDLE_INVALID' && e.params[0] === 'host') {
          this.o.log(`member: the master at ${this.cfg.masterAddress} no longer knows host ${this.cfg.hostUuid}; leaving the pool`);
          await this.stopAgent();
          await this.o.onEjected(this.cfg);
          return;
        }
        const old = this.client;
        this.client = undefined;
        await old?.close().catch(() => {});
        // The master moved (its old session was closed for that): its new address is tried at once.
        if (movesBefore !== this.moves) continue;
        if (!(ApiError.is(e) && e.code === 'SESSION_INVALID')) {
          this.o.log(`member: master ${this.cfg.master}: ${(e as Error).message ?? e}; retrying in ${wait / 1000} s`);
          await sleep(wait);
          wait = Math.min(wait * 2, RETRY_MS.max);
        }
      }
    }
  }

  /** Records this host's certificate on the master; a master that cannot is logged, not fatal. */
  private async reportCertificate(c: XapiClient): Promise<void> {
    if (this.o.fingerprint === undefined) return;
    try {
      await c.call('host.report_server_certificate', this.cfg.host, this.o.fingerprint);
    } catch (e) {
      this.o.log(`member: the master did not record this host's certificate (${(e as Error).message}); pool.recover_slaves will not reach this host`);
    }
  }

  private current(): XapiClient {
    if (!this.client) throw new Error('not connected to the master');
    return this.client;
  }

  /** Follows this host's record and PIFs: keeps the management config, collects a new secret. */
  private async watch(): Promise<void> {
    let token = '';
    while (!this.stopped) {
      const c = this.current();
      const res = await c.call<{ token: string }>('event.from', ['host', 'PIF'], token, token === '' ? 0 : (this.o.watchTimeoutS ?? 30));
      token = res.token;
      await c.call('host.get_uuid', this.cfg.host); // HANDLE_INVALID once the pool has forgotten this host
      const pifs = await c.call<Record<string, Record<string, unknown>>>('PIF.get_all_records');
      const mgmt = Object.values(pifs).find((p) => p.host === this.cfg.host && p.management === true);
      let changed = false;
      if (mgmt) {
        const m: ManagementConfig = {
          device: String(mgmt.device), ip_configuration_mode: String(mgmt.ip_configuration_mode), IP: String(mgmt.IP),
          netmask: String(mgmt.netmask), gateway: String(mgmt.gateway), DNS: String(mgmt.DNS),
        };
        if (JSON.stringify(m) !== JSON.stringify(this.cfg.management)) { this.cfg = { ...this.cfg, management: m }; changed = true; }
      }
      const next = await c.call<string>('host.fetch_secret', this.cfg.host);
      if (next) {
        this.cfg = { ...this.cfg, secret: next };
        changed = true;
      }
      if (changed) writeMemberConfig(this.o.stateDir, this.cfg);
      if (next) {
        // A login with the new secret retires the old one on the master; the old session stays.
        const moves = this.moves;
        const fresh = await this.login();
        // The master moved while this login went to the old address: run() logs in at the new one.
        if (moves !== this.moves) { fresh.abandon(); return; }
        this.client = fresh;
        await c.close().catch(() => {});
        this.o.log('member: pool credential renewed');
      }
    }
  }

  private async stopAgent(): Promise<void> {
    const a = this.agent;
    this.agent = undefined;
    await a?.stop().catch(() => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.stopAgent();
    await this.client?.close().catch(() => {});
    this.client = undefined;
  }
}
