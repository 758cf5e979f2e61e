// xe as the real one reads its command line: username=/password= and the other connection
// settings as name=value arguments, XE_EXTRA_ARGS, the usage and syntax errors, and the
// generated param commands' failures and the legacy map-key=value form.
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { USAGE } from '../../src/cli/help.js';
import { doc, internal, lines, PASSWORD, record, runTranscript, startServer, usage, type Server } from './harness.js';

let server: Server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const noCreds = { XE_USER: undefined, XE_PASSWORD: undefined };
const usageText = `${USAGE.join('\n')}\n`;

test('connection settings as name=value arguments, anywhere on the line', async () => {
  const ca = join(server.dir, 'server.pem');
  await runTranscript(server, [
    { cmd: 'host-list --minimal', capture: 'host' },
    { cmd: `host-list server=127.0.0.1 port=${server.port} --ca-file ${ca} username=root password=${PASSWORD} --minimal`, env: noCreds, stdout: '{host}\n' },
    { cmd: `username=root -s 127.0.0.1 host-list -p ${server.port} --ca-file ${ca} --minimal password=${PASSWORD}`, env: noCreds, stdout: '{host}\n' },
    { cmd: `-s 127.0.0.1 -p ${server.port} --ca-file ${ca} host-list username=root password=wrong`, env: noCreds, stderr: usage('Authentication failed') },
    // The real xe's --debug switches are taken (xcpnet's xe prints no debug output).
    { cmd: 'host-list --debug --debug-on-fail --traceparent 00-x --minimal', stdout: '{host}\n' },
  ]);
});

test('XE_EXTRA_ARGS: comma-separated, \\, for a comma, read before the command line', async () => {
  const ca = join(server.dir, 'server.pem');
  const remote = `server=127.0.0.1,port=${server.port},--ca-file,${ca},username=root,password=${PASSWORD}`;
  await runTranscript(server, [
    { cmd: 'host-list --minimal', capture: 'host' },
    { cmd: 'network-create name-label=extra', stdout: '{?net}\n' },
    { cmd: 'host-list --minimal', env: { ...noCreds, XE_EXTRA_ARGS: remote }, stdout: '{host}\n' },
    // The line's settings win over the variable's.
    { cmd: 'host-list --minimal password=wrong', env: { ...noCreds, XE_EXTRA_ARGS: remote }, stderr: usage('Authentication failed') },
    { cmd: 'host-list --minimal', env: { ...noCreds, XE_EXTRA_ARGS: `${remote},password=wrong` }, stderr: usage('Authentication failed') },
    // Parameters too: the variable's apply unless the line gives them; an escaped comma stays.
    { cmd: 'network-list uuid={net}', env: { XE_EXTRA_ARGS: 'params=name-label\\,MTU' }, stdout: record([['name-label ( RW)', 'extra'], ['MTU ( RW)', '1500']]) },
    { cmd: 'network-list uuid={net} params=uuid', env: { XE_EXTRA_ARGS: 'params=name-label' }, stdout: record([['uuid ( RO)', '{net}']]) },
    { cmd: 'network-list uuid={net}', env: { XE_EXTRA_ARGS: ',,params=uuid,' }, stdout: record([['uuid ( RO)', '{net}']]) },
  ]);
});

test('usage and syntax errors in the real xe\'s form', async () => {
  await runTranscript(server, [
    // No command, --help or -help anywhere, a bad port: the usage on stderr, and status 0.
    { cmd: '', args: [], stderr: usageText, status: 0 },
    { cmd: 'network-list --help', stderr: usageText, status: 0 },
    { cmd: '-help network-list', stderr: usageText, status: 0 },
    { cmd: '-p 70000 network-list', stderr: `Port number must be an integer (0-65535)\n${usageText}`, status: 0 },
    { cmd: 'port=http network-list', stderr: `Port number must be an integer (0-65535)\n${usageText}`, status: 0 },
    // A switch xe does not know or without its value, a name=value where the command belongs.
    { cmd: 'network-list -x y', stderr: usage('Syntax error: ') },
    { cmd: 'network-list -pw', stderr: usage('Syntax error: ') },
    { cmd: 'name-label=x network-list', stderr: usage('Syntax error: ') },
    { cmd: '--minimal network-list', stderr: usage('Unknown command: --minimal') },
  ]);
});

test('the generated param commands fail as the real xe\'s do', async () => {
  await runTranscript(server, [
    { cmd: 'network-create name-label=params', stdout: '{?n}\n' },
    // The uuid is looked up before the parameter is read.
    { cmd: 'network-param-set uuid=nope colour=red', stderr: lines(doc('UUID_INVALID'), 'type: network', 'uuid: nope') },
    { cmd: 'network-param-get uuid=nope param-name=colour', stderr: lines(doc('UUID_INVALID'), 'type: network', 'uuid: nope') },
    { cmd: 'network-param-get uuid={n} param-name=colour', stderr: lines('Error code: Missing parameter', 'Error parameters: colour') },
    { cmd: 'network-param-add uuid={n} param-name=colour x=y', stderr: lines('Error code: Missing parameter', 'Error parameters: colour') },
    { cmd: 'network-param-remove uuid={n} param-name=colour param-key=x', stderr: lines('Error code: Missing parameter', 'Error parameters: colour') },
    { cmd: 'network-param-clear uuid={n} param-name=colour', stderr: lines('Error code: Missing parameter', 'Error parameters: colour') },
    // The real xe answers these in its unexpected-condition form; xcpnet makes a typo the user's
    // error, naming the closest field (docs/differences.md).
    { cmd: 'network-param-set uuid={n} colour=red', stderr: "Error: Unknown field 'colour'.\n" },
    { cmd: 'network-param-set uuid={n} colour:k=v', stderr: "Error: Unknown field 'colour'.\n" },
    { cmd: 'network-param-set uuid={n} other-confg:k=v', stderr: "Error: Unknown field 'other-confg'. Did you mean 'other-config'?\n" },
    { cmd: 'network-param-set uuid={n} MTU:k=v', stderr: internal("Field 'MTU' is not a set or map") },
    { cmd: 'network-param-set uuid={n} tags:k=v', stderr: internal('Cannot param-set on set fields') },
    { cmd: 'network-param-set uuid={n} tags-k=v', stderr: internal('Cannot param-set on set fields') },
    { cmd: 'network-param-set uuid={n} other-config=x', stderr: internal("Field 'other-config' is a map or set. use the 'name:key=value' syntax.") },
    { cmd: 'network-param-set uuid={n} bridge=x', stderr: internal("Field 'bridge' is read-only.") },
    { cmd: 'network-param-add uuid={n} param-name=MTU x=y', stderr: internal('Can only add to parameters of type Set or Map') },
    { cmd: 'network-param-add uuid={n} param-name=tags', stderr: internal('When adding a key to a set, use the syntax: *-param-add param-name=<name> param-key=<key>') },
    { cmd: 'network-param-add uuid={n} param-name=PIF-uuids param-key=x', stderr: internal('Parameter is read-only') },
    { cmd: 'network-param-remove uuid={n} param-name=MTU param-key=x', stderr: internal('Can only remove from parameters of type Set or Map') },
    { cmd: 'network-param-remove uuid={n} param-name=PIF-uuids param-key=x', stderr: internal('Cannot remove parameters from read-only map') },
    { cmd: 'network-param-remove uuid={n} param-name=tags param-key=x', stderr: internal('Key x is not in the set') },
    { cmd: 'network-param-remove uuid={n} param-name=other-config param-key=x', stderr: internal('Key x is not in map') },
    { cmd: 'network-param-get uuid={n} param-name=other-config param-key=x', stderr: internal('Key x not found in map') },
    { cmd: 'network-param-clear uuid={n} param-name=bridge', stderr: internal('Can only clear RW parameters') },
    { cmd: 'network-param-clear uuid={n} param-name=MTU', stderr: internal('Cannot clear this parameter') },
    // param-key on a field that is not a map: the whole value.
    { cmd: 'network-param-get uuid={n} param-name=name-label param-key=x', stdout: 'params\n' },
  ]);
});

test('the legacy map-key=value form, alongside map:key=value', async () => {
  await runTranscript(server, [
    { cmd: 'network-create name-label=legacy', stdout: '{?n}\n' },
    { cmd: 'network-param-set uuid={n} other-config-folder=a other-config:colour=blue' },
    { cmd: 'network-param-get uuid={n} param-name=other-config', stdout: 'folder: a; colour: blue\n' },
    // A key holding dashes: everything after the map's name and its dash.
    { cmd: 'network-param-set uuid={n} other-config-a-b=c' },
    { cmd: 'network-param-get uuid={n} param-name=other-config param-key=a-b', stdout: 'c\n' },
    { cmd: 'network-param-set uuid={n} other-config-folder=b' },
    { cmd: 'network-param-get uuid={n} param-name=other-config param-key=folder', stdout: 'b\n' },
    { cmd: 'network-list other-config-folder=b --minimal', stdout: '{n}\n' },
  ]);
});
