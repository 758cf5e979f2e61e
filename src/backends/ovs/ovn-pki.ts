// This host's OVN key and certificate: the key made here (mode 0600, it never leaves the host),
// the certificate signed by the pool CA on the master through the host credential
// (host.sign_ovn_certificate), named after the host's uuid, OVN's chassis name. Renewed when
// missing, not signed by the CA held with it, not for this key, or a month from its end.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { newPrivateKey, openssl } from '../../common/openssl.js';
import { checkSigned, isChassisName, needsRenewal, pkiFiles, type PkiFiles } from '../../common/ovn-pki.js';
import { privateDir, writePrivateFile } from '../../common/private-files.js';
import type { OvnSigner } from '../contract.js';

const readOr = (file: string): string | undefined => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);

/** Whether `certPem` is for the private key in `keyPem`. */
function certFitsKey(certPem: string, keyPem: string): boolean {
  try { return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)); } catch { return false; }
}

function fingerprintOf(pem: string): string {
  try { return new X509Certificate(pem).fingerprint256; } catch { return ''; }
}

function replaceFile(file: string, text: string): void {
  writePrivateFile(`${file}.new`, text);
  renameSync(`${file}.new`, file);
}

export class HostOvnPki {
  readonly files: PkiFiles;
  private running: Promise<PkiFiles> | undefined;

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
    privateDir(this.dir);
    if (!existsSync(f.key)) await newPrivateKey(f.key);
    const key = readFileSync(f.key, 'utf8');
    const cert = readOr(f.cert);
    const ca = readOr(f.ca);
    if (cert !== undefined && certFitsKey(cert, key) && !needsRenewal(cert, ca, this.chassis, now)
      && (caFingerprint === undefined || fingerprintOf(ca!) === caFingerprint)) return f;
    if (!this.sign) throw new Error('OVN certificate: none here, and no master to sign one');
    const csr = await openssl(['req', '-new', '-sha256', '-key', f.key, '-subj', `/CN=${this.chassis}`]);
    const answer = await this.sign(csr);
    const publicKey = createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string;
    const got = checkSigned(typeof answer === 'string' ? answer : '', this.chassis, publicKey, now);
    if ('error' in got) throw new Error(`OVN certificate from the master: ${got.error}`);
    replaceFile(f.ca, got.ca);
    replaceFile(f.cert, got.cert);
    this.log(`OVN certificate for chassis ${this.chassis} signed by the pool CA, valid until ${new X509Certificate(got.cert).validTo}`);
    return f;
  }
}
