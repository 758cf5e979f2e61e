// network-*: the dedicated commands and every generated command kind, filters, params=,
// --minimal and its escaping, read-only refusal, map and set editing.
import { after, before, test } from 'node:test';
import { doc, internal, lines, missingParam, record, runTranscript, startServer, type Server } from './harness.js';


let server: Server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('network-create, -list (default columns, filters, params, --minimal), -param-list', async () => {
  await runTranscript(server, [
    { cmd: 'network-create name-label=lab name-description=first MTU=9000', stdout: '{?n1}\n' },
    { cmd: 'network-create name-label=a,b\\c bridge=labbr0 managed=false', stdout: '{?n2}\n' },
    { cmd: 'network-list uuid={n1}', stdout: record([
      ['uuid ( RO)', '{n1}'],
      ['name-label ( RW)', 'lab'],
      ['name-description ( RW)', 'first'],
      ['bridge ( RO)', '{?br1:any}'],
    ]) },
    { cmd: 'network-list name-label=lab params=bridge,uuid', stdout: record([
      ['uuid ( RO)', '{n1}'],
      ['bridge ( RO)', '{br1}'],
    ]) },
    { cmd: 'network-list bridge=labbr0 params=name-label,managed', stdout: record([
      ['name-label ( RW)', 'a,b\\c'],
      ['managed ( RO)', 'false'],
    ]) },
    // --minimal prints the first printed field; commas and backslashes are escaped.
    { cmd: 'network-list bridge=labbr0 params=name-label --minimal', stdout: 'a\\,b\\\\c\n' },
    { cmd: 'network-list MTU=9000 --minimal', stdout: '{n1}\n' },
    { cmd: 'network-list name-label=nothing-matches --minimal', stdout: '\n' },
    { cmd: 'network-list colour=red', stderr: "Error: Unknown field 'colour'.\n" },
    { cmd: 'network-list name-lable=x', stderr: "Error: Unknown field 'name-lable'. Did you mean 'name-label'?\n" },
    { cmd: 'network-param-list uuid={n1}', stdout: record([
      ['uuid ( RO)', '{n1}'],
      ['name-label ( RW)', 'lab'],
      ['name-description ( RW)', 'first'],
      ['VIF-uuids (SRO)', ''],
      ['PIF-uuids (SRO)', ''],
      ['MTU ( RW)', '9000'],
      ['bridge ( RO)', '{br1}'],
      ['managed ( RO)', 'true'],
      ['other-config (MRW)', ''],
      ['blobs ( RO)', ''],
      ['tags (SRW)', ''],
      ['default-locking-mode ( RW)', 'unlocked'],
      ['purpose (SRW)', ''],
    ]) },
    { cmd: 'network-list uuid={n1} params=all --minimal', stdout: '{n1}\n' },
  ]);
});

test('network-param-get/-set/-add/-remove/-clear', async () => {
  await runTranscript(server, [
    { cmd: 'network-create name-label=edit', stdout: '{?n}\n' },
    { cmd: 'network-param-set uuid={n} name-label=edited MTU=1400 other-config:folder=/lab' },
    { cmd: 'network-param-get uuid={n} param-name=name-label', stdout: 'edited\n' },
    { cmd: 'network-param-get uuid={n} param-name=MTU', stdout: '1400\n' },
    { cmd: 'network-param-get uuid={n} param-name=other-config param-key=folder', stdout: '/lab\n' },
    { cmd: 'network-param-get uuid={n} param-name=other-config param-key=nope', stderr: internal('Key nope not found in map') },
    { cmd: 'network-param-get uuid={n} param-name=colour', stderr: "Error: Unknown field 'colour'.\n" },
    { cmd: 'network-param-set uuid={n} name-lable=x', stderr: "Error: Unknown field 'name-lable'. Did you mean 'name-label'?\n" },
    // map:key=value replaces an existing key.
    { cmd: 'network-param-set uuid={n} other-config:folder=/other' },
    { cmd: 'network-param-add uuid={n} param-name=other-config static-routes=10.9.0.0/16/10.20.0.1' },
    { cmd: 'network-list uuid={n} other-config:static-routes=10.9.0.0/16/10.20.0.1 params=other-config',
      stdout: 'other-config (MRW)    : folder: /other; static-routes: 10.9.0.0/16/10.20.0.1\n\n\n' },
    { cmd: 'network-list uuid={n} other-config-folder=/other --minimal', stdout: '{n}\n' },
    { cmd: 'network-param-add uuid={n} param-name=other-config folder=/again',
      stderr: lines(doc('MAP_DUPLICATE_KEY'), 'type: network', 'param_name: other_config', 'uuid: {n} (edited)', 'key: folder') },
    { cmd: 'network-param-remove uuid={n} param-name=other-config param-key=folder' },
    { cmd: 'network-param-remove uuid={n} param-name=other-config param-key=folder', stderr: internal('Key folder not found in map') },
    // Sets: tags (joined with ", ") and purpose.
    { cmd: 'network-param-add uuid={n} param-name=tags param-key=lab' },
    { cmd: 'network-param-add uuid={n} param-name=tags param-key=vlan' },
    { cmd: 'network-param-get uuid={n} param-name=tags', stdout: 'lab, vlan\n' },
    { cmd: 'network-list tags:contains=vlan uuid={n} --minimal', stdout: '{n}\n' },
    { cmd: 'network-param-remove uuid={n} param-name=tags param-key=lab' },
    { cmd: 'network-param-get uuid={n} param-name=tags', stdout: 'vlan\n' },
    { cmd: 'network-param-add uuid={n} param-name=purpose param-key=NBD' },
    { cmd: 'network-param-get uuid={n} param-name=purpose', stdout: 'nbd\n' },
    { cmd: 'network-param-clear uuid={n} param-name=tags' },
    { cmd: 'network-param-get uuid={n} param-name=tags', stdout: '\n' },
    { cmd: 'network-param-clear uuid={n} param-name=other-config' },
    { cmd: 'network-param-get uuid={n} param-name=other-config', stdout: '\n' },
    { cmd: 'network-param-clear uuid={n} param-name=name-description' },
    // Read-only fields and sets without a setter are refused.
    { cmd: 'network-param-set uuid={n} bridge=xyz', stderr: internal("Field 'bridge' is read-only.") },
    { cmd: 'network-param-set uuid={n} tags=a', stderr: internal("Field 'tags' is a map or set: use param-add/param-remove, or tags:key=value for a map.") },
    { cmd: 'network-param-clear uuid={n} param-name=bridge', stderr: internal("Field 'bridge' is read-only.") },
    { cmd: 'network-param-set uuid={n} default-locking-mode=DISABLED' },
    { cmd: 'network-param-get uuid={n} param-name=default-locking-mode', stdout: 'disabled\n' },
    { cmd: 'network-param-set uuid={n} default-locking-mode=half',
      stderr: "Error: Expected one of 'unlocked', 'disabled', got half\n" },
    { cmd: 'network-param-set uuid={n} MTU=big', stderr: "Error: Failed to parse parameter 'MTU': expecting an integer\n" },
    { cmd: 'network-destroy uuid={n}' },
    { cmd: 'network-param-list uuid={n}', stderr: lines(doc('UUID_INVALID'), 'type: network', 'uuid: {n}') },
  ]);
});

test('network-create refusals and network-attach', async () => {
  await runTranscript(server, [
    { cmd: 'network-create name-label=bad bridge=xenbr99', stderr: lines(doc('INVALID_VALUE'), 'field: bridge', 'value: xenbr99') },
    { cmd: 'network-create name-label=one bridge=labdup', stdout: '{?d1}\n' },
    { cmd: 'network-create name-label=two bridge=labdup', stderr: lines(doc('BRIDGE_NAME_EXISTS'), 'bridge: labdup') },
    { cmd: 'network-create name-label=three managed=perhaps', stderr: "Error: Failed to parse parameter 'managed': expecting a boolean (true or false)\n" },
    { cmd: 'network-create', stderr: missingParam('name-label') },
    { cmd: 'host-list --minimal', capture: 'host' },
    { cmd: 'network-create name-label=attach', stdout: '{?a}\n' },
    { cmd: 'network-attach uuid={a} host-uuid={host}' },
  ]);
});
