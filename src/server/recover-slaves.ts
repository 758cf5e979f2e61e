// pool.recover_slaves on the master: after the master's management address changed (or its
// database and state were restored on a machine with another address), its members cannot reach
// it. The master calls each one, over TLS to the member's address, and tells it the master's
// current address (pool.emergency_reset_master), as xapi does (ocaml/xapi/xapi_pool.ml,
// recover_slaves). The member's certificate is checked against the fingerprint it sent at its
// join, and the master proves itself with the member's recovery proof (src/protocol/pool-recovery.ts).
// Bounded: a timeout per member, a few members at a time; a member that cannot be reached or
// refuses is left out of the answer, as in xapi, and logged.
import { XapiClient } from '../client/xapi-client.js';
import { ApiError } from '../common/api-error.js';
import { isIPv4 } from '../common/net-syntax.js';
import type { Store, Tx } from '../db/store.js';
import { isMasterAddress, recoveryProof } from '../protocol/pool-recovery.js';
import type { ImplTable } from './context.js';
import type { HostCredentials } from './host-credentials.js';
import { hostFingerprint } from './membership.js';

/** Each member's call must end within this time (connect, TLS, login, the reset). */
export const RECOVER_TIMEOUT_MS = 10_000;
/** Members called at once. */
export const RECOVER_PARALLEL = 8;

/** A member to call, or why it cannot be. */
export type RecoveryTarget = { host: string; address: string; fingerprint: string } | { host: string; skip: string };

/** Pure: every host but the master, with what calling it needs. */
export function recoveryTargets(tx: Pick<Tx, 'all'>, master: string): RecoveryTarget[] {
  return tx.all('host').filter(([ref]) => ref !== master).map(([host, h]): RecoveryTarget => {
    const address = typeof h.address === 'string' ? h.address : '';
    const fingerprint = hostFingerprint(tx, host);
    if (!isIPv4(address)) return { host, skip: `it has no management address (${JSON.stringify(address)})` };
    if (fingerprint === '') return { host, skip: 'its TLS certificate is not known (it serves none, or has not logged in since it runs a version that records it)' };
    return { host, address, fingerprint };
  });
}

export interface RecoverDeps {
  store: Store;
  credentials: HostCredentials;
  masterHost(): string;
  /** The port members serve XenAPI on (the master's own: all hosts of a pool serve the same). */
  port(): number;
  log(line: string): void;
  timeoutMs?: number;
}

/** `https://ADDRESS:PORT`, built field by field. */
function urlOf(address: string, port: number): string {
  const u = new URL('https://localhost');
  u.hostname = address;
  u.port = String(port);
  return u.origin;
}

/**
 * Tells one member the master's address; rejects when it cannot. The proof is made with each of
 * the member's keys in turn (its current secret's, then a next one it may have collected).
 */
async function resetMember(t: { host: string; address: string; fingerprint: string }, keys: Buffer[], masterAddress: string,
  port: number, timeoutMs: number): Promise<void> {
  const open = new Set<XapiClient>();
  // A member that takes the connection and never answers the login is given up with the call.
  const login = new AbortController();
  let expired = false;
  const work = (async () => {
    for (const [i, key] of keys.entries()) {
      let client: XapiClient;
      try {
        client = await XapiClient.connect({ target: urlOf(t.address, port), user: '', password: '', poolProof: recoveryProof(key, t.host),
          trust: { fingerprint: t.fingerprint }, maxSockets: 1, originator: 'xcpnet-recover-slaves', signal: login.signal });
      } catch (e) {
        if (ApiError.is(e) && e.code === 'SESSION_AUTHENTICATION_FAILED' && i < keys.length - 1) continue;
        throw e;
      }
      if (expired) { void client.close(); throw new Error('timed out'); }
      open.add(client);
      try {
        await client.call('pool.emergency_reset_master', masterAddress);
      } finally {
        open.delete(client);
        await client.close();
      }
      return;
    }
    throw new Error('no credential for this host');
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      login.abort();
      for (const c of open) void c.close();
      reject(new Error(`no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    work.catch(() => undefined);
  }
}

/** pool.recover_slaves: the refs of the members that took the master's address. */
export async function recoverSlaves(d: RecoverDeps): Promise<string[]> {
  const master = d.masterHost();
  const masterAddress = String(d.store.get('host', master).address ?? '');
  if (!isMasterAddress(masterAddress)) {
    throw new ApiError('OPERATION_NOT_ALLOWED', [`the master has no management address to give its members (${JSON.stringify(masterAddress)})`]);
  }
  const targets = d.store.transact((tx) => recoveryTargets(tx, master));
  const recovered: string[] = [];
  const queue = [...targets];
  const worker = async (): Promise<void> => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      if ('skip' in t) { d.log(`pool.recover_slaves: host ${t.host} skipped: ${t.skip}`); continue; }
      try {
        await resetMember(t, d.credentials.recoveryKeys(t.host), masterAddress, d.port(), d.timeoutMs ?? RECOVER_TIMEOUT_MS);
        recovered.push(t.host);
        d.log(`pool.recover_slaves: host ${t.host} at ${t.address} now follows the master at ${masterAddress}`);
      } catch (e) {
        d.log(`pool.recover_slaves: host ${t.host} at ${t.address} not recovered: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(RECOVER_PARALLEL, queue.length) }, worker));
  // In the database's order, whatever order the answers came in.
  return targets.map((t) => t.host).filter((h) => recovered.includes(h));
}

export function recoverImpls(d: RecoverDeps): ImplTable {
  return {
    'pool.recover_slaves': () => recoverSlaves(d),
    // On a member this call is answered by its serve (src/server/serve.ts); here the host is the
    // master or standalone: it has no master to follow (xapi would make it another master's member).
    'pool.emergency_reset_master': () => {
      throw new ApiError('OPERATION_NOT_ALLOWED', ['this host is a pool master (or standalone), not a pool member: it has no master address to reset']);
    },
  };
}
