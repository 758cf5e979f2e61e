// The agent of a host whose `xcpnet serve` runs apart (the installed services) follows the host's
// pool membership by itself: while serve's pool-member.json exists (written at `xe pool-join`),
// the agent talks to the master it names, with the host's credential and the certificate trust
// recorded at the join; without it, to the host's own serve (its local socket, the credential
// serve wrote for it). serve stays the only one that joins, collects rotated secrets and notices
// an eject; the agent only reads the file: when it changes (watched) and whenever a call fails
// (a member's own serve answers HOST_IS_SLAVE; a forgotten credential is refused), so it never
// needs a restart nor an edited agent.conf.
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { MEMBER_FILE_MAX_BYTES, parseMemberConfig, type MasterTrust } from '../protocol/pool-member.js';
import { MasterLink, type MasterSession } from './master-link.js';

/** Where and how the agent logs in. */
export interface LoginPlace {
  /** unix:PATH or an http(s) URL. */
  target: string;
  credential: { host: string; secret: string };
  trust: MasterTrust;
  /** The master's address as HOST_IS_SLAVE names it ('' for the host's own serve). */
  masterAddress: string;
  /** Whether this is a pool member's master (from the membership file). */
  member: boolean;
}

/**
 * Pure: where to log in given the membership file's text (undefined: there is none, the host is
 * standalone or the master) and the place the agent was started with. A file that cannot be read
 * as a membership throws (the caller keeps the place it has).
 */
export function placeFor(memberText: string | undefined, file: string, own: LoginPlace): LoginPlace {
  if (memberText === undefined) return own;
  const m = parseMemberConfig(memberText, file);
  return { target: m.master, credential: { host: m.host, secret: m.secret }, trust: m.trust ?? {}, masterAddress: m.masterAddress, member: true };
}

/**
 * Pure: what names one pool membership: the master and this host's ref there. A rotated secret is
 * the same membership; another master, or the same one after an eject and a new join (a new host
 * ref), is another, and the agent starts over with it (full sync, a fresh session).
 */
export const membershipKey = (p: LoginPlace): string => `${p.target} ${p.credential.host}`;

/** Reads the membership file: its text, or undefined when there is none. */
export function readMembershipFile(file: string): string | undefined {
  try {
    // Its size is checked before it is read, not only by the parser after.
    const size = statSync(file).size;
    if (size > MEMBER_FILE_MAX_BYTES) throw new Error(`${file}: ${size} bytes, more than a membership file holds (${MEMBER_FILE_MAX_BYTES})`);
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * The agent's line to whichever master the membership names now: a MasterLink whose logins go to
 * the current place. When the membership changes, the session is dropped (a call in flight on it,
 * such as a long poll, fails at once) and `masterChanges` grows: the agent then syncs afresh.
 */
export class MembershipLink {
  private place: LoginPlace;
  private readonly link: MasterLink;
  private watcher: FSWatcher | undefined;
  /** How many times the master changed (joins, ejects): a change asks the agent for a full sync. */
  masterChanges = 0;

  constructor(private readonly file: string, private readonly own: LoginPlace,
    connect: (p: LoginPlace) => Promise<MasterSession>, private readonly log: (m: string) => void) {
    this.place = this.read() ?? own;
    this.link = new MasterLink(() => connect(this.place));
    // Watched through its directory: the file comes and goes (and is replaced by a rename).
    try {
      this.watcher = watch(dirname(file), (_ev, name) => { if (name === null || name === basename(file)) this.recheck(); });
      this.watcher.on('error', (e) => log(`membership file ${file}: no longer watched (${e.message}); read again when a call fails`));
    } catch (e) {
      log(`membership file ${file}: not watched (${(e as Error).message}); read again when a call fails`);
    }
  }

  /** Where the agent logs in now. */
  get current(): LoginPlace { return this.place; }

  private read(): LoginPlace | undefined {
    try {
      return placeFor(readMembershipFile(this.file), this.file, this.own);
    } catch (e) {
      this.log(`membership file: ${(e as Error).message}; keeping ${this.place?.target ?? this.own.target}`);
      return undefined;
    }
  }

  /** Reads the file again and follows it: another membership drops the session. */
  recheck(): void {
    const next = this.read();
    if (!next) return;
    const moved = membershipKey(next) !== membershipKey(this.place);
    this.place = next; // the same membership may carry a rotated secret
    if (!moved) return;
    this.masterChanges++;
    this.log(next.member
      ? `this host is a pool member now: following its master ${next.target} (host ${next.credential.host})`
      : `this host is no pool member now: back to ${next.target}`);
    this.link.drop();
  }

  async call(method: string, ...params: unknown[]): Promise<unknown> {
    try {
      return await this.link.call(method, ...params);
    } catch (e) {
      // HOST_IS_SLAVE (serve has joined a pool), a refused credential (ejected, or a secret
      // rotated since the login), an unreachable master: the file may say where to go now.
      this.recheck();
      throw e;
    }
  }

  resetConnections(): void { this.link.resetConnections(); }

  async close(): Promise<void> {
    this.watcher?.close();
    await this.link.close();
  }
}
