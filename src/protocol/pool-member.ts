// `xcpnet serve` ↔ the host's own agent when it runs apart (the installed xcpnet-agent.service):
// pool-member.json in serve's state directory says that this host is a pool member, which master
// it belongs to, its host ref there, its per-host credential and how it trusts the master's TLS
// certificate. serve writes it at `xe pool-join` (and when it collects a rotated secret) and
// removes it when the host leaves the pool; the agent only reads it (src/agent/membership.ts).
// Types and checks only, no I/O.

export const MEMBER_FILE = 'pool-member.json';

/** How a host trusts its master's TLS certificate: a CA (PEM) or a pinned SHA-256 fingerprint. */
export interface MasterTrust { ca?: string; fingerprint?: string }

export interface ManagementConfig {
  device: string; ip_configuration_mode: string; IP: string; netmask: string; gateway: string; DNS: string;
}

/** What a member keeps: where its master is and how it proves who it is. */
export interface MemberConfig {
  /** The master's URL (https://ADDRESS[:PORT], or http:// to a master serving plain HTTP). */
  master: string;
  /** The master's address as HOST_IS_SLAVE names it. */
  masterAddress: string;
  /** This host's ref on the master. */
  host: string;
  /** This host's uuid: the same in the pool as before the join. */
  hostUuid: string;
  secret: string;
  /** How the master's certificate was trusted at the join (absent in files of older versions). */
  trust?: MasterTrust;
  /** The management interface as the pool last had it: kept when the host leaves the pool. */
  management?: ManagementConfig;
}

/** The file is written by serve, 0600, and holds a few hundred bytes; more is not a member file. */
export const MEMBER_FILE_MAX_BYTES = 256 * 1024;

/** Pure: the file's text checked whole; throws an Error naming the file and the field. */
export function parseMemberConfig(text: string, file: string): MemberConfig {
  const fix = 'remove the file to make this host standalone';
  if (text.length > MEMBER_FILE_MAX_BYTES) throw new Error(`${file}: larger than ${MEMBER_FILE_MAX_BYTES} bytes; ${fix}`);
  let c: Record<string, unknown>;
  try { c = JSON.parse(text) as Record<string, unknown>; } catch { throw new Error(`${file}: not JSON; ${fix}`); }
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new Error(`${file}: not an object; ${fix}`);
  for (const k of ['master', 'masterAddress', 'host', 'hostUuid', 'secret'] as const) {
    if (typeof c[k] !== 'string' || c[k] === '') throw new Error(`${file}: no ${k}; ${fix}`);
  }
  if (!/^https?:\/\/[^/\s]+$/.test(c.master as string)) throw new Error(`${file}: master ${JSON.stringify(c.master)} is not an http(s) URL; ${fix}`);
  const trust = c.trust;
  if (trust !== undefined) {
    const t = trust as Record<string, unknown>;
    if (t === null || typeof t !== 'object' || Array.isArray(t)
      || (t.ca !== undefined && typeof t.ca !== 'string') || (t.fingerprint !== undefined && typeof t.fingerprint !== 'string')) {
      throw new Error(`${file}: trust is not {"ca"?: PEM, "fingerprint"?: SHA256}; ${fix}`);
    }
  }
  return c as unknown as MemberConfig;
}

/** Pure: a trust that says something (a CA or a fingerprint). */
export const trustGiven = (t: MasterTrust | undefined): t is MasterTrust => !!t && (!!t.ca || !!t.fingerprint);
