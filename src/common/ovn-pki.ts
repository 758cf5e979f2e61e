// The pool's OVN PKI, the parts both ends share: the files a holder keeps (a private key, its
// certificate, the pool CA's certificate), what a certificate signing request may look like,
// and the checks on what comes back. OVN's TLS (OVS's stream-ssl) trusts a peer whose
// certificate the pool CA signed; the southbound database's RBAC then takes the certificate's
// CN as the chassis name, which is the host's uuid (ovn-controller's system-id). Pure but for
// the file names and renewedSince.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';

/** A PKI holder's files (OVS's -p/-c/-C, --private-key/--certificate/--ca-cert). */
export interface PkiFiles { key: string; cert: string; ca: string }

export const pkiFiles = (dir: string, name: string): PkiFiles => ({
  key: join(dir, `${name}.key`), cert: join(dir, `${name}.pem`), ca: join(dir, 'pool-ca.pem'),
});

/** A CSR is a few hundred bytes to a couple of KiB; anything much larger is refused unread. */
export const MAX_CSR_CHARS = 16_384;

/** A certificate is renewed when it expires within this long. */
export const RENEW_BEFORE_MS = 30 * 24 * 3600_000;

/** The CN of the master's own certificate (its databases, ovn-northd, its northbound writer). */
export const CENTRAL_CN = 'xcpnet-ovn-central';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isChassisName = (s: string): boolean => UUID.test(s);

const block = (label: string) => new RegExp(`-----BEGIN ${label}-----\\r?\\n[A-Za-z0-9+/=\\r\\n]+-----END ${label}-----`, 'g');

/** The PEM blocks of certificates in `text`, in order. */
export function certificateBlocks(text: string): string[] {
  return text.match(block('CERTIFICATE')) ?? [];
}

/** The one CSR block of `text`, or why it is not one. */
export function csrBlock(text: string): { pem: string } | { error: string } {
  if (text.length > MAX_CSR_CHARS) return { error: `longer than ${MAX_CSR_CHARS} characters` };
  const found = text.match(block('CERTIFICATE REQUEST')) ?? [];
  if (found.length !== 1 || text.trim() !== found[0]!.trim()) return { error: 'not one PEM certificate request' };
  return { pem: `${found[0]!}\n` };
}

/** The CN of a certificate's subject, or '' (node prints the subject one `KEY=value` a line). */
export function commonNameOf(cert: X509Certificate): string {
  const cn = cert.subject.split('\n').filter((l) => l.startsWith('CN='));
  return cn.length === 1 ? cn[0]!.slice(3) : '';
}

/**
 * Why what the master answered a signing request with is not the holder's certificate for
 * `name` signed by a CA (undefined: it is). `answer` is the certificate then the CA's.
 */
export function checkSigned(answer: string, name: string, publicKeyPem: string, now: Date):
  { cert: string; ca: string } | { error: string } {
  const blocks = certificateBlocks(answer);
  if (blocks.length !== 2) return { error: `${blocks.length} certificates in the answer, not 2 (the host's, the pool CA's)` };
  let cert: X509Certificate;
  let ca: X509Certificate;
  try { cert = new X509Certificate(blocks[0]!); ca = new X509Certificate(blocks[1]!); } catch { return { error: 'a certificate in the answer does not parse' }; }
  if (!ca.ca) return { error: 'the pool CA certificate is not a CA' };
  if (!cert.verify(ca.publicKey)) return { error: 'the certificate is not signed by the pool CA' };
  if (commonNameOf(cert) !== name) return { error: `the certificate names ${JSON.stringify(commonNameOf(cert))}, not ${name}` };
  if (cert.publicKey.export({ type: 'spki', format: 'pem' }) !== publicKeyPem) return { error: 'the certificate is not for this host\'s key' };
  // Only the end is checked: the start is the master's signing time, which this host's clock may
  // not have reached yet (the peers that check it are the master's and the other hosts' servers).
  if (now > new Date(cert.validTo)) return { error: 'the certificate has expired' };
  return { cert: `${blocks[0]!}\n`, ca: `${blocks[1]!}\n` };
}

/**
 * Whether a held certificate is to be replaced: unreadable, not of `name`, not signed by the CA
 * held with it, or ending within `beforeMs` (0: whether it is still usable at all).
 */
export function needsRenewal(certPem: string | undefined, caPem: string | undefined, name: string, now: Date, beforeMs = RENEW_BEFORE_MS): boolean {
  if (certPem === undefined || caPem === undefined) return true;
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return commonNameOf(cert) !== name || !cert.verify(ca.publicKey) || new Date(cert.validTo).getTime() - now.getTime() < beforeMs;
  } catch {
    return true;
  }
}

/** The PKI options of OVS's daemons (ovsdb-server, ovn-controller, ovn-northd) for `f`. */
export const sslOptions = (f: PkiFiles): string[] => [`--private-key=${f.key}`, `--certificate=${f.cert}`, `--ca-cert=${f.ca}`];

/** Whether any of a comma-separated list of OVSDB remotes is `ssl:`. */
export const usesSsl = (remotes: string): boolean => remotes.split(',').some((r) => r.startsWith('ssl:'));

/**
 * Whether `cert` was replaced after the daemon whose pidfile is `pidfile` started: ovn-controller
 * and ovn-northd read the files of their -p/-c/-C options once, so a renewed certificate needs
 * them started again (ovsdb-server reads its files again when they change).
 */
export function renewedSince(cert: string, pidfile: string): boolean {
  try { return statSync(cert).mtimeMs > statSync(pidfile).mtimeMs; } catch { return false; }
}
