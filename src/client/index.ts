// The XenAPI client, as used by xe and the host agent.
export { XapiClient, parseTarget, decodeReply, type ConnectOptions } from './xapi-client.js';
export { normalizeFingerprint, TrustingAgent, UntrustedCertificate, type Trust } from './trust.js';
