// install-services / remove-services into a temporary root; readiness to systemd; the FHS places.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { expandExec, installServices, readEnvironmentFile, removeServices, serviceCommands, unitFiles, UNITS } from './services.js';
import { notifyReady } from '../common/sd-notify.js';
import { localSocket } from '../common/paths.js';

const XCPNET_JS = fileURLToPath(new URL('./xcpnet.js', import.meta.url));
const mode = (p: string) => statSync(p).mode & 0o777;

test('install-services --root: both units and the settings, nothing asked of systemd; a second run keeps edited settings; remove-services keeps settings', async () => {
  const root = mkdtempSync(join(tmpdir(), 'xcpnet-root-'));
  try {
    const calls: string[][] = [];
    const systemctl = async (args: string[]) => { calls.push(args); };
    // As an operator runs it.
    const out = execFileSync(process.execPath, [XCPNET_JS, 'install-services', '--root', root, '--host', '11111111-2222-3333-4444-555555555555'], { encoding: 'utf8' });
    assert.match(out, /wrote .*xcpnet-master\.service/);
    const master = readFileSync(join(root, 'etc/systemd/system', UNITS.master), 'utf8');
    const agent = readFileSync(join(root, 'etc/systemd/system', UNITS.agent), 'utf8');
    for (const unit of [master, agent]) {
      for (const line of ['Type=notify', 'NotifyAccess=all', 'Restart=on-failure', 'StateDirectory=xcpnet', 'StateDirectoryMode=0700', 'WantedBy=multi-user.target']) {
        assert.ok(unit.split('\n').includes(line), `${line} in\n${unit}`);
      }
      assert.match(unit, /^After=.*openvswitch-switch\.service/m);
      assert.ok(unit.includes(`ExecStart=${process.execPath} ${XCPNET_JS} `));
    }
    assert.match(master, /^ExecStart=\S+ \S+ serve --no-agent \$XCPNET_SERVE_OPTS$/m);
    assert.match(master, /^RuntimeDirectory=xcpnet$/m);
    assert.match(master, /^Environment=XCPNET_STATE_DIR=\/var\/lib\/xcpnet XCPNET_RUN_DIR=\/run\/xcpnet XCPNET_CONF_DIR=\/etc\/xcpnet$/m);
    assert.match(agent, /^ExecStart=\S+ \S+ agent --master \$\{XCPNET_MASTER\} --host \$\{XCPNET_HOST\} --credential-file \$\{XCPNET_CREDENTIAL_FILE\} --membership \$\{XCPNET_STATE_DIR\}\/pool-member\.json --manage-nics \$XCPNET_AGENT_OPTS$/m);
    assert.match(agent, /^Environment=XCPNET_STATE_DIR=\/var\/lib\/xcpnet /m, 'the membership file is the master unit\'s, in its state directory');
    assert.match(agent, /^KillMode=process$/m);
    assert.equal(mode(join(root, 'etc/systemd/system', UNITS.agent)), 0o644);
    assert.equal(mode(join(root, 'etc/xcpnet')), 0o700);
    const agentConf = join(root, 'etc/xcpnet/agent.conf');
    assert.equal(mode(agentConf), 0o600);
    assert.match(readFileSync(agentConf, 'utf8'), /^XCPNET_HOST=11111111-2222-3333-4444-555555555555$/m);
    assert.match(readFileSync(agentConf, 'utf8'), /^XCPNET_MASTER=unix:\/run\/xcpnet\/xapi\.sock$/m);
    assert.doesNotMatch(readFileSync(agentConf, 'utf8'), /8080|http:/, 'no outdated master address in its comments');
    // As systemd starts the units: the settings read as EnvironmentFile=, ExecStart substituted.
    const masterEnv = readEnvironmentFile(readFileSync(join(root, 'etc/xcpnet/master.conf'), 'utf8'));
    assert.deepEqual(expandExec(serviceCommands().master, masterEnv).slice(2),
      ['serve', '--no-agent', '--listen', '0.0.0.0:443', '--agent-credential-file', '/var/lib/xcpnet/agent-credential'],
      'the master serves HTTPS on 443 (members join it there) and writes the credential the agent reads');
    const agentEnv = { XCPNET_STATE_DIR: '/var/lib/xcpnet', ...readEnvironmentFile(readFileSync(agentConf, 'utf8')) };
    assert.deepEqual(expandExec(serviceCommands().agent, agentEnv).slice(2), ['agent', '--master', 'unix:/run/xcpnet/xapi.sock',
      '--host', '11111111-2222-3333-4444-555555555555', '--credential-file', '/var/lib/xcpnet/agent-credential',
      '--membership', '/var/lib/xcpnet/pool-member.json', '--manage-nics']);

    writeFileSync(agentConf, 'XCPNET_HOST=edited\n');
    await installServices({ root, systemctl });
    assert.equal(readFileSync(agentConf, 'utf8'), 'XCPNET_HOST=edited\n', 'settings are never overwritten');
    assert.deepEqual(calls, [], 'an install under --root leaves systemd alone');

    await removeServices({ root, systemctl });
    assert.equal(existsSync(join(root, 'etc/systemd/system', UNITS.master)), false);
    assert.equal(existsSync(join(root, 'etc/systemd/system', UNITS.agent)), false);
    assert.ok(existsSync(agentConf), 'settings kept');
    assert.deepEqual(calls, []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('systemd-analyze finds nothing to say about the units', { skip: spawnSync('systemd-analyze', ['--version']).status !== 0 && 'no systemd-analyze' }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'xcpnet-root-'));
  try {
    await installServices({ root, systemctl: async () => {} });
    const files = Object.keys(unitFiles()).map((n) => join(root, 'etc/systemd/system', n));
    const r = spawnSync('systemd-analyze', ['verify', ...files], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warning (an unknown key, a bad value)');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('systemd\'s substitution of ExecStart and reading of an EnvironmentFile, as the lab uses them', () => {
  const env = readEnvironmentFile('# a comment\nA=one two\n  B="quoted value"\nEMPTY=\n#C=no\nnot a setting\n');
  assert.deepEqual(env, { A: 'one two', B: 'quoted value', EMPTY: '' });
  assert.deepEqual(expandExec(['x', '${A}', '$A', '$EMPTY', '${UNSET}/f', 'pre${B}post', '$UNSET'], env),
    ['x', 'one two', 'one', 'two', '/f', 'prequoted valuepost']);
});

test('a path a unit would need to quote is refused', () => {
  assert.throws(() => unitFiles({ node: '/opt/my node/bin/node' }), /install xcpnet under a plain path/);
  assert.throws(() => unitFiles({ entry: '/opt/x%i/xcpnet.js' }), /plain path/);
});

test('readiness: systemd-notify --ready with the status as one argument, only under systemd', async () => {
  const runs: [string, string[]][] = [];
  const run = async (cmd: string, args: string[]) => { runs.push([cmd, args]); };
  assert.equal(await notifyReady('serving', { env: {}, run }), false);
  assert.deepEqual(runs, []);
  assert.equal(await notifyReady('serving XenAPI on unix:/run/xcpnet/xapi.sock\nand more', { env: { NOTIFY_SOCKET: '/run/systemd/notify' }, run }), true);
  assert.deepEqual(runs, [['systemd-notify', ['--ready', '--status=serving XenAPI on unix:/run/xcpnet/xapi.sock and more']]]);
});

test('the local socket: the environment, else this checkout\'s ./var when its master runs, else the installed /run/xcpnet', () => {
  const none = () => false;
  assert.equal(localSocket({ XCPNET_STATE_DIR: '/s' }, none), '/s/xapi.sock');
  assert.equal(localSocket({ XCPNET_RUN_DIR: '/r', XCPNET_STATE_DIR: '/s' }, none), '/r/xapi.sock');
  const checkout = resolve('var/xapi.sock');
  assert.equal(localSocket({}, none), checkout);
  assert.equal(localSocket({}, (p) => p === '/run/xcpnet/xapi.sock'), '/run/xcpnet/xapi.sock');
  assert.equal(localSocket({}, () => true), checkout);
});

const PY_RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
s.settimeout(30)
while True:
    data = s.recvmsg(4096, 0)[0]
    print(repr(data.decode()), flush=True)
    if b"READY=1" in data: break
`;
const canReceive = spawnSync('python3', ['--version']).status === 0 && spawnSync('systemd-notify', ['--version']).status === 0;

test('xcpnet serve under systemd tells it when the API is up', { skip: !canReceive && 'needs python3 (a datagram receiver) and systemd-notify', timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xcpnet-notify-'));
  const sock = join(dir, 'notify');
  const receiver = spawn('python3', ['-c', PY_RECEIVER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  let heard = '';
  const ready = new Promise<void>((res, rej) => {
    receiver.stdout.on('data', (d: Buffer) => { heard += d.toString(); });
    receiver.on('exit', (code) => (code === 0 ? res() : rej(new Error(`receiver exited ${code}: ${heard}`))));
  });
  await new Promise<void>((res) => { const on = () => { if (heard.includes('listening')) { receiver.stdout.off('data', on); res(); } }; receiver.stdout.on('data', on); });
  const serve = spawn(process.execPath, [XCPNET_JS, 'serve', '--state-dir', join(dir, 'state'), '--listen', '127.0.0.1:0'],
    { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: sock, XCPNET_ROOT_PASSWORD: 'pw' } });
  try {
    await ready;
    assert.match(heard, /READY=1\\nSTATUS=serving XenAPI on https:\/\/127\.0\.0\.1:\d+ and unix:\S+\/xapi\.sock/);
  } finally {
    serve.kill('SIGKILL');
    receiver.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
