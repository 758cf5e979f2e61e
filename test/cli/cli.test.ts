// Connection flags and credentials, every error format of xe, help and bash completion.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { internal, doc, lines, missingParam, PASSWORD, runTranscript, runXe, startServer, unknownCommand, usage, type Server } from './harness.js';

let server: Server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('credentials: -u/-pw, -pwf, the environment; login failures', async () => {
  // The real xe's -pwf file: the user on the first line, the password on the second.
  const pwf = join(server.dir, 'pw.txt');
  writeFileSync(pwf, `root\n${PASSWORD}\n`);
  const unterminated = join(server.dir, 'pw-no-newline.txt');
  writeFileSync(unterminated, `root\n${PASSWORD}`);
  const oneLine = join(server.dir, 'pw-one-line.txt');
  writeFileSync(oneLine, `${PASSWORD}\n`);
  const pwfFormat = 'Error: password file format: expecting username on the first line, password on the second line\n';
  const noCreds = { XE_USER: undefined, XE_PASSWORD: undefined };
  // Over TLS to the master's port, its own certificate trusted: every login needs a password.
  const tcp = `-s 127.0.0.1 -p ${server.port} --ca-file ${join(server.dir, 'server.pem')}`;
  await runTranscript(server, [
    { cmd: 'host-list --minimal', capture: 'host' },
    { cmd: `${tcp} -u root -pw ${PASSWORD} host-list --minimal`, env: noCreds, stdout: '{host}\n' },
    { cmd: `${tcp} host-list -pwf ${pwf} --minimal`, env: noCreds, stdout: '{host}\n' },
    { cmd: `${tcp} host-list -pwf ${unterminated} --minimal`, env: noCreds, stdout: '{host}\n' },
    // The file wins over -u/-pw and the environment, as in the real xe (it is read last).
    { cmd: `${tcp} -u nobody -pw wrong host-list -pwf ${pwf} --minimal`, env: { XE_USER: 'nobody', XE_PASSWORD: 'wrong' }, stdout: '{host}\n' },
    { cmd: `host-list -pwf ${oneLine}`, env: noCreds, stderr: pwfFormat },
    { cmd: `host-list -pwf ${join(server.dir, 'absent')}`, stderr: `Error opening password file '${join(server.dir, 'absent')}'\n` },
    { cmd: `${tcp} host-list --minimal`, env: { XE_USER: undefined }, stdout: '{host}\n' },
    { cmd: `${tcp} host-list -pw wrong`, stderr: usage('Authentication failed') },
    { cmd: `${tcp} host-list`, env: noCreds, stderr: usage('Authentication failed') },
    { cmd: '', args: ['-u', '', 'host-list'], stderr: usage('Username/password must be specified') },
    // The local socket is trusted as xapi's: no password, or a wrong one, still logs in.
    { cmd: 'host-list --minimal', env: noCreds, stdout: '{host}\n' },
    { cmd: 'host-list -pw wrong --minimal', stdout: '{host}\n' },
    { cmd: 'host-list', env: { XCPNET_STATE_DIR: '/nonexistent' },
      stderr: 'Error: cannot reach the XenAPI server (unix:/nonexistent/xapi.sock): connect ENOENT /nonexistent/xapi.sock\n' },
  ]);
});

test('error formats: unknown command, missing parameter, argument errors, API errors, CLI failures', async () => {
  await runTranscript(server, [
    { cmd: 'network-frobnicate', stderr: unknownCommand('network-frobnicate') },
    { cmd: 'vlan-create pif-uuid=x', stderr: missingParam('vlan') },
    { cmd: 'vm-list -u', stderr: usage('Syntax error: ') },
    { cmd: 'pif-reconfigure-ip uuid=x mode=sometimes', stderr: "Error: Expected one of 'None', 'DHCP', 'Static', got sometimes\n" },
    { cmd: 'network-param-list uuid=nope', stderr: lines(doc('UUID_INVALID'), 'type: network', 'uuid: nope') },
    { cmd: 'network-list colour=red', stderr: "Error: Unknown field 'colour'.\n" },
    { cmd: 'network-list name-lable=x', stderr: "Error: Unknown field 'name-lable'. Did you mean 'name-label'?\n" },
  ]);
});

test('pool-join: master-password or master-password-file, exactly one; an unreadable file is a CLI failure', async () => {
  const file = join(server.dir, 'master-pw');
  writeFileSync(file, 'secret\n');
  const join_ = 'pool-join master-address=192.0.2.1 master-username=root';
  await runTranscript(server, [
    { cmd: join_, stderr: missingParam('master-password') },
    { cmd: `${join_} master-password=x master-password-file=${file}`, stderr: internal('give master-password or master-password-file, not both') },
    { cmd: `${join_} master-password-file=${file}.missing`, stderr: internal(`cannot read the file ${file}.missing given as master-password-file`) },
  ]);
});

test('an error code missing from the registry is printed raw', async () => {
  // A stand-in server: logs in, then answers every call with an unregistered error code.
  const stub = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { method, id } = JSON.parse(body) as { method: string; id: number };
      const reply = method === 'session.login_with_password' ? { result: 'OpaqueRef:s' }
        : method === 'session.logout' ? { result: '' }
          : { error: { code: 1, message: 'SOMETHING_NEW', data: ['a', 'b'] } };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ jsonrpc: '2.0', id, ...reply }));
    });
  });
  await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
  try {
    const port = (stub.address() as AddressInfo).port;
    const r = await runXe(['-s', '127.0.0.1', '-p', String(port), '--nossl', 'network-list'], server.env);
    assert.deepEqual(r, { stdout: '', stderr: 'Error code: SOMETHING_NEW\nError parameters: a, b\n', status: 1 });
  } finally {
    stub.close();
  }
});

test('help: the command list, one command, --all, as the real xe lays them out', async () => {
  const list = await runXe(['help'], server.env);
  assert.equal(list.status, 0);
  assert.match(list.stdout, /^Usage: xe /);
  assert.match(list.stdout, /\nCommon command list\n-------------------\n\n {4}\S/);
  const names = (text: string) => text.split('\n').filter((l) => l.startsWith('    ')).flatMap((l) => l.trim().split(', ')).filter((n) => n !== '');
  const common = list.stdout.split('\n-------------------\n\n')[1]!;
  assert.ok(names(common).includes('network-create'));
  assert.ok(!names(common).includes('pif-db-forget'));
  // A line is broken before a name that would take it past 74 characters.
  const listLines = list.stdout.split('\n-------------------\n\n')[1]!.split('\n').filter((l) => l !== '');
  for (const [i, l] of listLines.entries()) {
    const next = listLines[i + 1]?.trim().split(', ')[0];
    if (next !== undefined) assert.ok(`${l}, ${next}`.length - 2 > 74, `${l} | ${next}`);
    assert.ok(!l.includes(', ') || l.length - l.split(', ').at(-1)!.length - 2 <= 74, l);
  }
  const all = await runXe(['help', '--all'], server.env);
  assert.match(all.stdout, /\nFull command list\n-----------------\n\n {4}host-/);
  // Hosts' commands, a line of four spaces, the VMs', the same, then the others.
  const sections = all.stdout.split('\nFull command list\n-----------------\n\n')[1]!.split('\n    \n');
  assert.equal(sections.length, 3);
  assert.ok(names(sections[0]!).every((n) => n.startsWith('host-')));
  assert.ok(names(sections[1]!).every((n) => n.startsWith('vm-')));
  assert.ok(names(sections[2]!).includes('pif-db-forget') && names(sections[2]!).includes('network-attach'));
  // What bash completion reads: every command, comma-separated, sorted, on one line.
  const minimal = await runXe(['help', '--minimal', '--all'], server.env);
  assert.equal(minimal.status, 0);
  const listed = minimal.stdout.trimEnd().split(',');
  assert.match(minimal.stdout, /^[a-z0-9-]+(,[a-z0-9-]+)+\n$/);
  assert.deepEqual(listed, [...listed].sort());
  assert.deepEqual(listed, [...names(sections[0]!), ...names(sections[1]!), ...names(sections[2]!)].sort());
  await runTranscript(server, [
    { cmd: 'help vlan-create', stdout: lines(
      'command name            : vlan-create',
      '        reqd params     : pif-uuid, vlan, network-uuid',
      '        optional params : ',
      '        description     : Create a VLAN on a PIF, joining the given network; prints the uuid of the new VLAN PIF.', '', '') },
    { cmd: 'help vif-unplug', stdout: lines(
      'command name            : vif-unplug',
      '        reqd params     : uuid',
      '        optional params : force',
      '        description     : Hot-unplug a VIF from its running VM (--force does not wait for the guest).', '', '') },
    { cmd: 'help vm-shutdown', stdoutRe: /optional params : force, <vm-selectors>\n {8}description {5}: Shut the selected VM down .*--multiple/ },
    // A command it does not know is said so on stdout, and the help still succeeds.
    { cmd: 'help nothing-like-this', stdout: "Unknown command 'nothing-like-this'\n" },
    { cmd: 'help nothing-like-this vlan-destroy --minimal', stdout: "Unknown command 'nothing-like-this',vlan-destroy\n" },
    // The generated commands list the parameters they take.
    { cmd: 'help network-param-set', stdoutRe: /optional params : name-label, name-description, MTU, .*other-config:\n/ },
    { cmd: 'help network-list', stdoutRe: /optional params : params, uuid, name-label, .*, tags:contains/ },
    { cmd: 'help network-param-get', stdoutRe: /reqd params {5}: uuid, param-name\n {8}optional params : param-key\n/ },
  ]);
});

test('bash completion: the script, commands, parameters, uuids of the right class', async () => {
  const script = await runXe(['--bash-completion'], server.env);
  assert.equal(script.status, 0);
  assert.match(script.stdout, /complete -o nospace -F _xe_complete xe/);
  await runTranscript(server, [
    { cmd: 'host-list --minimal', capture: 'host' },
    { cmd: 'network-create name-label=c1', stdout: '{?n}\n' },
    { cmd: '', args: ['--complete', 'xe network-cr'], stdout: 'network-create \n' },
    { cmd: '', args: ['--complete', 'xe vlan-create '], stdout: 'pif-uuid=\nvlan=\nnetwork-uuid=\n' },
    { cmd: '', args: ['--complete', 'xe vlan-create pif-uuid=x v'], stdout: 'vlan=\n' },
    { cmd: '', args: ['--complete', 'xe pif-scan host-uuid='], stdout: '={host} \n' },
    { cmd: '', args: ['--complete', 'xe network-param-get param-name=na'], stdout: 'name-label \nname-description \n' },
    { cmd: '', args: ['--complete', 'xe event-wait class=p'], stdout: 'pif \npool \n' },
    { cmd: '', args: ['--complete', 'xe vif-plug --'], stdout: '--minimal \n' },
    { cmd: '', args: ['--complete', 'xe vm-shutdown --'], stdout: '--force \n--multiple \n--minimal \n' },
    { cmd: '', args: ['--complete', 'xe vm-start na'], stdout: 'name-label=\n' },
  ]);
  const uuids = await runXe(['--complete', 'xe network-param-list uuid='], server.env);
  const n = (await runXe(['network-list', 'name-label=c1', '--minimal'], server.env)).stdout.trim();
  assert.ok(uuids.stdout.split('\n').includes(`=${n} `), uuids.stdout);
});
