// xe and xcpnet over TLS: xe -s verifies the master's certificate (a CA file or a pinned
// fingerprint) and names the fingerprint of one it does not trust; --nossl is plain HTTP;
// the certificate commands; plain HTTP refused off loopback without the insecure flag.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintOf, loadOrCreateCertificate } from '../../src/server/certificate.js';
import { ROOT, runXe, startServer, type Server } from './harness.js';

const XCPNET = join(ROOT, 'bin', 'xcpnet');

let server: Server;
let fp: string;
let hostUuid: string;
before(async () => {
  server = await startServer();
  fp = fingerprintOf(readFileSync(join(server.dir, 'server.pem'), 'utf8'));
  hostUuid = (await runXe(['host-list', '--minimal'], server.env)).stdout.trim();
});
after(async () => { await server?.stop(); });

/** xe against the master's TCP port, not its socket. */
const remote = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runXe(['-s', '127.0.0.1', '-p', String(server.port), ...args], { ...server.env, XCPNET_STATE_DIR: '/nonexistent', ...env });

const untrusted = (reason: string, shown: string) => `Error: the TLS certificate of 127.0.0.1:${server.port} is not trusted (${reason}); `
  + `its SHA-256 fingerprint is ${shown}. If that is the server's certificate (compare: \`xe host-get-server-certificate\` or `
  + '`xcpnet cert-fingerprint` on it), trust it with --fingerprint (XE_FINGERPRINT) or give its certificate or CA with --ca-file (XE_CA_FILE)\n';

test('xcpnet cert-fingerprint prints what clients pin', () => {
  const r = spawnSync(XCPNET, ['cert-fingerprint', '--state-dir', server.dir], { encoding: 'utf8' });
  assert.deepEqual({ status: r.status, stdout: r.stdout }, { status: 0, stdout: `${fp}\n` });
  assert.match(fp, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

test('xe -s: TLS by default; a pinned fingerprint or the CA file is trusted; a wrong pin or none is refused, naming the fingerprint', async () => {
  const ok = { stdout: `${hostUuid}\n`, stderr: '', status: 0 };
  assert.deepEqual(await remote(['--fingerprint', fp, 'host-list', '--minimal']), ok);
  assert.deepEqual(await remote(['host-list', '--minimal'], { XE_FINGERPRINT: fp.replace(/:/g, '').toLowerCase() }), ok);
  assert.deepEqual(await remote(['--ca-file', join(server.dir, 'server.pem'), 'host-list', '--minimal']), ok);
  const wrong = `${'00:'.repeat(31)}00`;
  assert.deepEqual(await remote(['--fingerprint', wrong, 'host-list', '--minimal']),
    { stdout: '', stderr: untrusted(`it is not the pinned ${wrong}`, fp), status: 1 });
  assert.deepEqual(await remote(['host-list', '--minimal']),
    { stdout: '', stderr: untrusted('DEPTH_ZERO_SELF_SIGNED_CERT', fp), status: 1 });
  assert.deepEqual(await remote(['--fingerprint', 'abc', 'host-list']), { stdout: '', stderr: 'Error: not a SHA-256 fingerprint: abc\n', status: 1 });
  // Plain HTTP to a TLS port gets no answer.
  const plain = await remote(['--nossl', 'host-list', '--minimal']);
  assert.equal(plain.status, 1);
  assert.match(plain.stderr, /^Error: cannot reach the XenAPI server \(http:\/\/127\.0\.0\.1:\d+\)/);
});

test('xe --nossl talks plain HTTP to a master serving it on loopback (--http)', async () => {
  const http = await startServer(['--http']);
  try {
    const r = await runXe(['-s', '127.0.0.1', '-p', String(http.port), '--nossl', 'host-list', '--minimal'], { ...http.env, XCPNET_STATE_DIR: '/nonexistent' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^[0-9a-f-]{36}\n$/);
  } finally { await http.stop(); }
});

test('xe host-get-server-certificate and host-server-certificate-install: the new certificate is served at once', async () => {
  const got = await runXe(['host-get-server-certificate'], server.env);
  assert.deepEqual(got, { stdout: readFileSync(join(server.dir, 'server.pem'), 'utf8'), stderr: '', status: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-cert-'));
  try {
    const next = loadOrCreateCertificate(dir, ['localhost'], ['127.0.0.1']);
    const nextFp = fingerprintOf(next.cert);
    const missing = await runXe(['host-server-certificate-install', `certificate=${join(dir, 'absent.pem')}`, `private-key=${join(dir, 'server.key')}`], server.env);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot read the file .*absent\.pem given as certificate/);
    const done = await runXe(['host-server-certificate-install', `certificate=${join(dir, 'server.pem')}`, `private-key=${join(dir, 'server.key')}`,
      `uuid=${hostUuid}`], server.env);
    assert.deepEqual(done, { stdout: '', stderr: '', status: 0 });
    assert.deepEqual(await remote(['--fingerprint', nextFp, 'host-list', '--minimal']), { stdout: `${hostUuid}\n`, stderr: '', status: 0 });
    assert.deepEqual(await remote(['--fingerprint', fp, 'host-list', '--minimal']),
      { stdout: '', stderr: untrusted(`it is not the pinned ${fp}`, nextFp), status: 1 });
    fp = nextFp;
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

/** Runs `xcpnet serve` until it serves or exits; its exit status and output. */
function serveOnce(args: string[]): Promise<{ status: number | null; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-http-'));
  const child = spawn(XCPNET, ['serve', '--no-agent', '--state-dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XCPNET_ROOT_PASSWORD: 'pw' } });
  let output = '';
  return new Promise((resolve) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('serving XenAPI')) child.kill('SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (status) => { rmSync(dir, { recursive: true, force: true }); resolve({ status, output }); });
  });
}

test('plain HTTP: refused off loopback unless --insecure-http', async () => {
  const refused = await serveOnce(['--listen', '0.0.0.0:0', '--http']);
  assert.equal(refused.status, 1);
  assert.equal(refused.output, 'xcpnet: plain HTTP is served only on a loopback address, not on 0.0.0.0: serve HTTPS, or say --insecure-http\n');
  const insecure = await serveOnce(['--listen', '0.0.0.0:0', '--insecure-http']);
  assert.match(insecure.output, /serving XenAPI on http:\/\/0\.0\.0\.0:\d+ and unix:/);
  const tls = await serveOnce(['--listen', '0.0.0.0:0']);
  assert.match(tls.output, /serving XenAPI on https:\/\/0\.0\.0\.0:\d+ and unix:.*\nxcpnet: TLS certificate SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}\n/);
});
