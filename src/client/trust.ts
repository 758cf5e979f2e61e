// Whom an https client trusts: the server's certificate is checked against a CA/certificate
// file (or the system's CAs), or against a pinned SHA-256 fingerprint. The check is made when
// the TLS handshake ends and before the socket is handed to the request, so nothing (not a
// password) is ever written to a server that is not trusted.
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';

export interface Trust {
  /** PEM certificates to trust (a CA, or the server's own certificate); default: the system's CAs. */
  ca?: string;
  /** The server certificate's SHA-256 fingerprint (hex, colons optional): trusted whatever signed it. */
  fingerprint?: string;
}

/** A fingerprint as node and `openssl x509 -fingerprint -sha256` print it: AB:CD:…, upper case. */
export function normalizeFingerprint(fp: string): string {
  const hex = fp.replace(/^sha256[:=]/i, '').replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) throw new Error(`not a SHA-256 fingerprint: ${fp}`);
  return hex.match(/../g)!.join(':');
}

/** The server's certificate is not trusted; `fingerprint` says which one it presented. */
export class UntrustedCertificate extends Error {
  constructor(readonly fingerprint: string, readonly reason: string, readonly server: string) {
    super(`the TLS certificate of ${server} is not trusted (${reason}); its SHA-256 fingerprint is ${fingerprint}. `
      + 'If that is the server\'s certificate (compare: `xe host-get-server-certificate` or `xcpnet cert-fingerprint` on it), '
      + 'trust it with --fingerprint (XE_FINGERPRINT) or give its certificate or CA with --ca-file (XE_CA_FILE)');
    this.name = 'UntrustedCertificate';
  }
}

/** An https agent that checks each new connection against `trust`. */
export class TrustingAgent extends HttpsAgent {
  private readonly pinned: string | undefined;
  /** Sockets still in their handshake: not yet the agent's, so its destroy() would miss them. */
  private readonly handshaking = new Set<TLSSocket>();

  constructor(private readonly trust: Trust, opts: AgentOptions = {}) {
    super(opts);
    this.pinned = trust.fingerprint !== undefined ? normalizeFingerprint(trust.fingerprint) : undefined;
  }

  override createConnection(options: ConnectionOptions, done: (err: Error | null, s?: Duplex) => void): undefined {
    // The verdict is ours: node's is read from the socket, not acted on by tls.connect.
    const socket: TLSSocket = connect({ ...options, ca: this.trust.ca ?? options.ca, rejectUnauthorized: false });
    const server = `${options.host ?? 'the server'}:${options.port ?? 443}`;
    this.handshaking.add(socket);
    const settle = (e: Error | null): void => {
      socket.off('error', settle);
      socket.off('close', closed);
      this.handshaking.delete(socket);
      if (e) { socket.destroy(); done(e); } else done(null, socket);
    };
    const closed = (): void => settle(new Error(`the connection to ${server} closed before its TLS handshake ended`));
    socket.once('error', settle);
    socket.once('close', closed);
    socket.once('secureConnect', () => {
      const fp = socket.getPeerCertificate().fingerprint256 ?? '';
      if (this.pinned !== undefined) {
        if (fp === this.pinned) { settle(null); return; }
        settle(new UntrustedCertificate(fp, `it is not the pinned ${this.pinned}`, server));
        return;
      }
      if (socket.authorized) { settle(null); return; }
      settle(new UntrustedCertificate(fp, String(socket.authorizationError ?? 'unverified'), server));
    });
    return undefined;
  }

  /** Also ends the connections still in their handshake (their requests fail). */
  override destroy(): void {
    for (const s of [...this.handshaking]) s.destroy();
    super.destroy();
  }
}
