// Debian's `openssl` program, run with an argument vector (no shell, no configuration file), and
// the private keys it signs for: node makes keys but not certificates or requests.
import { spawn } from 'node:child_process';
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { writePrivateFile } from './private-files.js';

const makeKeyPair = promisify(generateKeyPair);
const OPENSSL_TIMEOUT_MS = 20_000;
/** openssl's answers are a certificate or a line of text: more than this is not one. */
const MAX_OUTPUT = 65_536;

/** Runs openssl with `args`, `input` on its standard input; resolves with its standard output. */
export async function openssl(args: string[], input = ''): Promise<string> {
  return (await opensslOutputs(args, input)).out;
}

export function opensslOutputs(args: string[], input: string): Promise<{ out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: OPENSSL_TIMEOUT_MS });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { if (out.length < MAX_OUTPUT) out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { if (err.length < MAX_OUTPUT) err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ out, err });
      else reject(new Error(`openssl ${args[0]} failed: ${err.trim().split('\n')[0] ?? `exit ${code}`}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** A new RSA 2048 key (as xapi's gencert makes), PKCS#8 PEM, in a new file of mode 0600. */
export async function newPrivateKey(file: string): Promise<void> {
  const { privateKey } = await makeKeyPair('rsa', { modulusLength: 2048 });
  writePrivateFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
}
