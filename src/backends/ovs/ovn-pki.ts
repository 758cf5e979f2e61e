// This host's OVN key and certificate: the key made here (mode 0600, it never leaves the host),
// the certificate signed by the pool CA on the master through the host credential
// (host.sign_ovn_certificate), named after the host's uuid, OVN's chassis name. Renewed when
// missing, not signed by the CA held with it, not for this key, or a month from its end; a held
// certificate still valid is kept while the master cannot sign.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { newPrivateKey, openssl } from '../../common/openssl.js';
import { checkSigned, isChassisName, needsRenewal, pkiFiles, type PkiFiles } from '../../common/ovn-pki.js';
import { privateDir, readIfExists, replacePrivateFile } from '../../common/private-files.js';
import type { OvnSigner } from '../contract.js';

/** Whether `certPem` is for the private key in `keyPem`. */
function certFitsKey(certPem: string, keyPem: string): boolean {
  try { return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)); } catch { return false; }
}

function fingerprintOf(pem: string): string {
  try { return new X509Certificate(pem).fingerprint256; } catch { return ''; }
}

/** How long a certificate found good is taken as good while its files stay as they were. */
const RECHECK_MS = 3600_000;

export class HostOvnPki {
  readonly files: PkiFiles;
  private running: Promise<PkiFiles> | undefined;
  /**
   * The published fingerprint the master last answered with another CA: asking again would get
   * the same answer (and restart ovn-controller each time), so the held certificate is kept until
   * the published value changes or the certificate needs renewal for itself.
   */
  private mismatchedFor: string | undefined;
  /**
   * The last check that found the files good, by what it read (the published fingerprint and the
   * files' times): every agent pass asks, and parsing keys and certificates each time is waste.
   */
  private goodUntil?: { stamp: string; until: number };
  /** The last problem logged, so a problem that lasts is logged once. */
  private lastLogged = '';

  constructor(private readonly dir: string, private readonly chassis: string, private readonly sign: OvnSigner | undefined,
    private readonly log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)) {
    this.files = pkiFiles(dir, 'chassis');
  }

  /**
   * The files, made or renewed first when they need it (one request at a time). `caFingerprint`:
   * the pool CA's as the master publishes it; a certificate held from another CA is renewed.
   */
  ensure(caFingerprint?: string, now = new Date()): Promise<PkiFiles> {
    this.running ??= this.renew(caFingerprint, now).finally(() => { this.running = undefined; });
    return this.running;
  }

  private async renew(caFingerprint: string | undefined, now: Date): Promise<PkiFiles> {
    const f = this.files;
    if (!isChassisName(this.chassis)) throw new Error(`OVN certificate: ${JSON.stringify(this.chassis)} is not a host uuid`);
    const version = (file: string) => {
      const st = statSync(file, { throwIfNoEntry: false });
      return st ? `${st.ino}:${st.size}:${Math.floor(st.mtimeMs)}` : '-';
    };
    const stamp = [caFingerprint ?? '', version(f.key), version(f.cert), version(f.ca)].join(' ');
    if (this.goodUntil?.stamp === stamp && now.getTime() < this.goodUntil.until) return f;
    privateDir(this.dir);
    if (!existsSync(f.key)) await newPrivateKey(f.key);
    const key = readFileSync(f.key, 'utf8');
    const cert = readIfExists(f.cert);
    const ca = readIfExists(f.ca);
    const ours = cert !== undefined && certFitsKey(cert, key);
    /** Still usable now (the CA held with it signed it, it has not ended), if not for long. */
    const usable = ours && !needsRenewal(cert, ca, this.chassis, now, 0);
    const fresh = ours && !needsRenewal(cert, ca, this.chassis, now);
    const caMatches = caFingerprint === undefined || fingerprintOf(ca!) === caFingerprint;
    if (fresh && (caMatches || caFingerprint === this.mismatchedFor)) {
      this.goodUntil = { stamp, until: now.getTime() + RECHECK_MS };
      return f;
    }
    let got: { cert: string; ca: string };
    try {
      got = await this.request(key, now);
    } catch (e) {
      if (!usable) throw e;
      // The master cannot sign now (unreachable, TOO_BUSY): the held certificate still serves.
      this.logOnce(`OVN certificate not renewed (${(e as Error).message}): the held one, valid until ${new X509Certificate(cert!).validTo}, is kept`);
      return f;
    }
    replacePrivateFile(f.ca, got.ca);
    replacePrivateFile(f.cert, got.cert);
    this.log(`OVN certificate for chassis ${this.chassis} signed by the pool CA, valid until ${new X509Certificate(got.cert).validTo}`);
    this.lastLogged = '';
    if (caFingerprint !== undefined && fingerprintOf(got.ca) !== caFingerprint) {
      this.mismatchedFor = caFingerprint;
      this.logOnce(`OVN certificate: the master signs with CA ${fingerprintOf(got.ca)}, not the published ${caFingerprint}: not asking again until that changes`);
    } else this.mismatchedFor = undefined;
    return f;
  }

  /** A certificate for this host's key from the master, checked. */
  private async request(key: string, now: Date): Promise<{ cert: string; ca: string }> {
    if (!this.sign) throw new Error('OVN certificate: none here, and no master to sign one');
    const csr = await openssl(['req', '-new', '-sha256', '-key', this.files.key, '-subj', `/CN=${this.chassis}`]);
    const answer = await this.sign(csr);
    const publicKey = createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string;
    const got = checkSigned(typeof answer === 'string' ? answer : '', this.chassis, publicKey, now);
    if ('error' in got) throw new Error(`OVN certificate from the master: ${got.error}`);
    return got;
  }

  private logOnce(line: string): void {
    if (line !== this.lastLogged) this.log(line);
    this.lastLogged = line;
  }
}
