// The host's TLS certificate, as an XCP host keeps one: made at first start (a self-signed
// certificate for the host's names and addresses, an RSA 2048 key as xapi's gencert makes), kept
// in the state directory, replaceable with host.install_server_certificate.
//
// The certificate is signed by Debian's `openssl` program, run with an argument vector (no shell,
// no configuration file): node can make keys but not certificates, and openssl is on every host
// that has node's TLS. The only values it receives are the host's own names and addresses, each
// checked against a strict syntax first (see `sanOf`).
import { createRequire } from 'node:module';
import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ApiError } from '../common/api-error.js';
import { replacePrivateFile, writePrivateFile } from '../common/private-files.js';

export interface ServerCertificate {
  /** PEM: the certificate, then its chain. */
  cert: string;
  /** PEM, PKCS#8. */
  key: string;
}

/** File names in the state directory (xapi keeps both in one file, /etc/xensource/xapi-ssl.pem). */
export const KEY_FILE = 'server.key';
export const CERT_FILE = 'server.pem';

/** As xapi's gencert: ten years. */
const VALID_DAYS = 3650;
// What install_server_certificate accepts. xapi accepts only RSA keys of 2048 to 4096 bits; the
// EC curves node's TLS serves (P-256, P-384) are accepted too.
const RSA_BITS = { min: 2048, max: 4096 };
const EC_CURVES = new Set(['prime256v1', 'secp384r1']);

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The subjectAltName text for openssl: only names and addresses of a strict syntax get in. */
export function sanOf(names: string[], ips: string[]): string {
  const entries: string[] = [];
  for (const n of names) if (DNS_NAME.test(n)) entries.push(`DNS:${n}`);
  for (const ip of ips) if (isIP(ip)) entries.push(`IP:${ip}`);
  return [...new Set(entries)].join(',');
}

/**
 * The certificate and key in `stateDir`, made on first use: the key (mode 0600) and a
 * self-signed certificate naming `names` (DNS) and `ips` (IP addresses) as subjectAltNames.
 */
export function loadOrCreateCertificate(stateDir: string, names: string[], ips: string[]): ServerCertificate {
  const keyFile = join(stateDir, KEY_FILE);
  const certFile = join(stateDir, CERT_FILE);
  if (existsSync(keyFile) && existsSync(certFile)) {
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  writePrivateFile(keyFile, key);
  const cn = names.find((n) => DNS_NAME.test(n)) ?? ips.find((ip) => isIP(ip)) ?? 'xcpnet';
  const san = sanOf(names, ips);
  // node:child_process only when a certificate is made (once per state directory), not at every start.
  const { execFileSync } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  execFileSync('openssl', ['req', '-x509', '-new', '-sha256', '-key', keyFile, '-days', String(VALID_DAYS),
    '-subj', `/CN=${cn}`, ...(san ? ['-addext', `subjectAltName=${san}`] : []), '-out', certFile],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  return { key, cert: readFileSync(certFile, 'utf8') };
}

/** The SHA-256 fingerprint of a PEM certificate, as `openssl x509 -fingerprint -sha256` prints it. */
export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** PEM blocks of certificates in `text`. */
function certBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

function checkKey(key: KeyObject): void {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = d.modulusLength ?? 0;
    if (bits < RSA_BITS.min || bits > RSA_BITS.max) throw new ApiError('SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED', [String(bits)]);
    return;
  }
  if (key.asymmetricKeyType === 'ec' && EC_CURVES.has(d.namedCurve ?? '')) return;
  throw new ApiError('SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED', [`${key.asymmetricKeyType ?? 'unknown'}${d.namedCurve ? ` ${d.namedCurve}` : ''}`]);
}

/**
 * Checks what host.install_server_certificate was given, with xapi's error codes, and returns it
 * ready to serve: the key, the certificate then its chain.
 */
export function validateCertificate(certificate: string, privateKey: string, chain: string, now = new Date()): ServerCertificate {
  let key: KeyObject;
  try {
    if (!privateKey.includes('-----BEGIN')) throw new Error('not PEM');
    key = createPrivateKey({ key: privateKey, format: 'pem' });
  } catch { throw new ApiError('SERVER_CERTIFICATE_KEY_INVALID', []); }
  checkKey(key);
  const blocks = certBlocks(certificate);
  let cert: X509Certificate;
  try {
    if (blocks.length !== 1) throw new Error('one certificate expected');
    cert = new X509Certificate(blocks[0]!);
  } catch { throw new ApiError('SERVER_CERTIFICATE_INVALID', []); }
  if (!cert.checkPrivateKey(key)) throw new ApiError('SERVER_CERTIFICATE_KEY_MISMATCH', []);
  if (now < new Date(cert.validFrom)) throw new ApiError('SERVER_CERTIFICATE_NOT_VALID_YET', [now.toISOString(), new Date(cert.validFrom).toISOString()]);
  if (now > new Date(cert.validTo)) throw new ApiError('SERVER_CERTIFICATE_EXPIRED', [now.toISOString(), new Date(cert.validTo).toISOString()]);
  const links = certBlocks(chain);
  if (chain.trim() !== '' && links.length === 0) throw new ApiError('SERVER_CERTIFICATE_CHAIN_INVALID', []);
  for (const l of links) {
    try { new X509Certificate(l); } catch { throw new ApiError('SERVER_CERTIFICATE_CHAIN_INVALID', []); }
  }
  return {
    key: key.export({ type: 'pkcs8', format: 'pem' }) as string,
    cert: [blocks[0]!, ...links].map((b) => `${b}\n`).join(''),
  };
}

/** Replaces the files, each whole (written aside, then renamed over the old one). */
export function saveCertificate(stateDir: string, c: ServerCertificate): void {
  for (const [name, text] of [[KEY_FILE, c.key], [CERT_FILE, c.cert]] as const) replacePrivateFile(join(stateDir, name), text);
}
