// The pool's OVN certificate authority, on the master: a CA key and certificate made at first
// use, the master's own certificate (its OVN databases, ovn-northd, its northbound writer), and
// the signing of a host's certificate request, whose CN is set to the host's uuid whatever the
// request says. The host's key never leaves the host (host.sign_ovn_certificate carries the
// request, the answer the certificate). A missing CA is made again; certificates it did not
// sign are then renewed by their holders.
//
// The certificates are made by Debian's `openssl` with argument vectors (no shell, no
// configuration file); the only record value it gets is a host uuid, checked first, and the
// request's PEM text on its standard input.
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from '../common/api-error.js';
import { privateDir, readIfExists, writePrivateFile } from '../common/private-files.js';
import { newPrivateKey, openssl, opensslOutputs } from '../common/openssl.js';
import { CENTRAL_CN, certificateBlocks, csrBlock, isChassisName, needsRenewal, pkiFiles, type PkiFiles } from '../common/ovn-pki.js';

/** The CA: ten years, as the API's own certificate. */
const CA_DAYS = 3650;
/** A host's certificate: two years; its agent renews it a month before the end. */
const HOLDER_DAYS = 730;
/** Signing requests waiting at once; more are TOO_BUSY (each holds its request and, run, an openssl). */
export const MAX_WAITING_REQUESTS = 16;

/** The CA's directory in the master's state directory. */
export const ovnCaDir = (stateDir: string): string => join(stateDir, 'ovn-pki');


const cas = new Map<string, OvnCa>();
/** The CA of `dir`, one object per directory in the process (the API's and OVN central's share its queue). */
export function ovnCaAt(dir: string): OvnCa {
  let ca = cas.get(dir);
  if (!ca) cas.set(dir, ca = new OvnCa(dir));
  return ca;
}

export class OvnCa {
  private readonly caKey: string;
  /** The master's own files; their `ca` is the pool CA's certificate. */
  readonly central: PkiFiles;
  private queue: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private readonly newCaListeners = new Set<(fingerprint: string) => void>();

  constructor(readonly dir: string) {
    this.caKey = join(dir, 'pool-ca.key');
    this.central = pkiFiles(dir, 'central');
  }

  /** One operation at a time: two requests never make two CAs. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Calls `fn` with the new CA's SHA-256 fingerprint whenever a CA is made (first use, or one
   * that went missing), whichever operation made it: the master publishes the fingerprint again.
   * Returns the unsubscribe.
   */
  onNewCa(fn: (fingerprint: string) => void): () => void {
    this.newCaListeners.add(fn);
    return () => { this.newCaListeners.delete(fn); };
  }

  private async ensureCa(): Promise<void> {
    privateDir(this.dir);
    if (existsSync(this.caKey) && existsSync(this.central.ca)) return;
    await newPrivateKey(this.caKey);
    const cert = await openssl(['req', '-x509', '-new', '-sha256', '-key', this.caKey, '-days', String(CA_DAYS),
      '-subj', `/CN=xcpnet OVN pool CA ${randomUUID()}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    writePrivateFile(this.central.ca, cert);
    const fingerprint = new X509Certificate(cert).fingerprint256;
    for (const fn of this.newCaListeners) fn(fingerprint);
  }

  /** The certificate for `csr` (checked: one request, its signature good) naming `cn`, then the CA's. */
  private async signChecked(csr: string, cn: string): Promise<string> {
    // openssl 3.0 exits 0 whether the request's signature verifies or not: it says which.
    const verified = await opensslOutputs(['req', '-noout', '-verify'], csr).then((r) => /self-signature verify OK/.test(r.err), () => false);
    if (!verified) throw new ApiError('INVALID_VALUE', ['csr', 'its signature does not verify']);
    // openssl x509 does not read a request from a socket (node's child stdin): a file, then.
    const file = join(this.dir, `request-${randomUUID()}.csr`);
    writePrivateFile(file, csr);
    try {
      const cert = await openssl(['x509', '-req', '-sha256', '-in', file, '-CA', this.central.ca, '-CAkey', this.caKey,
        '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(HOLDER_DAYS), '-subj', `/CN=${cn}`]);
      return cert + readFileSync(this.central.ca, 'utf8');
    } finally { rmSync(file, { force: true }); }
  }

  /**
   * Signs a host's request (host.sign_ovn_certificate): the certificate names `hostUuid`, whatever
   * the request's own subject. Bad input is INVALID_VALUE and signs nothing.
   */
  sign(csrText: string, hostUuid: string): Promise<string> {
    if (!isChassisName(hostUuid)) return Promise.reject(new ApiError('INVALID_VALUE', ['host', hostUuid]));
    const csr = csrBlock(csrText);
    if ('error' in csr) return Promise.reject(new ApiError('INVALID_VALUE', ['csr', csr.error]));
    if (this.waiting >= MAX_WAITING_REQUESTS) return Promise.reject(new ApiError('TOO_BUSY', []));
    this.waiting++;
    return this.serial(async () => { await this.ensureCa(); return this.signChecked(csr.pem, hostUuid); })
      .finally(() => { this.waiting--; });
  }

  /** The CA, and the master's own key and certificate (made or renewed when they need it). */
  ensureCentral(now = new Date()): Promise<PkiFiles> {
    return this.serial(async () => {
      await this.ensureCa();
      const f = this.central;
      if (!needsRenewal(readIfExists(f.cert), readIfExists(f.ca), CENTRAL_CN, now) && existsSync(f.key)) return f;
      // The new key and certificate are made aside and put in place together: a daemon
      // reloading them never holds a key with another key's certificate, even when signing fails.
      const key = `${f.key}.new`;
      await newPrivateKey(key);
      const csr = await openssl(['req', '-new', '-sha256', '-key', key, '-subj', `/CN=${CENTRAL_CN}`]);
      const [cert] = certificateBlocks(await this.signChecked(csr, CENTRAL_CN));
      writePrivateFile(`${f.cert}.new`, `${cert}\n`);
      renameSync(key, f.key);
      renameSync(`${f.cert}.new`, f.cert);
      return f;
    });
  }
}
