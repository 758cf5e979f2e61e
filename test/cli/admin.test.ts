// message-*, network-sriov-*, sdn-controller-* and host-set-hostname-live, as the real xe's
// (ocaml/xapi-cli-server/cli_frontend.ml, cli_operations.ml): their dedicated commands and the
// generated -list/-param-list/-param-get.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { doc, internal, lines, missingParam, record, runTranscript, startServer, usage, type Server } from './harness.js';

let server: Server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('message-create, -list, -param-get, message-destroy (uuid or uuids)', async () => {
  await runTranscript(server, [
    { cmd: 'host-list params=uuid --minimal', stdout: '{?host}\n' },
    { cmd: 'pool-list params=uuid --minimal', stdout: '{?pool}\n' },
    { cmd: 'message-create name=NOTE priority=3 body=first host-uuid={host}' },
    { cmd: 'message-create name=POOL_NOTE priority=1 body=second pool-uuid={pool}' },
    { cmd: 'message-list name=NOTE', stdout: record([
      ['uuid ( RO)', '{?m1}'],
      ['name ( RO)', 'NOTE'],
      ['priority ( RO)', '3'],
      ['class ( RO)', 'Host'],
      ['obj-uuid ( RO)', '{host}'],
      ['timestamp ( RO)', '{?t1:any}'],
      ['body ( RO)', 'first'],
    ]) },
    { cmd: 'message-list class=Pool params=uuid --minimal', stdout: '{?m2}\n' },
    { cmd: 'message-param-get uuid={m2} param-name=body', stdout: 'second\n' },
    { cmd: 'message-param-set uuid={m2} body=x', stderr: usage('Unknown command: message-param-set'), status: 1 },
    // Exactly one object; the priority an integer; the object must exist.
    { cmd: 'message-create name=X priority=high body=b host-uuid={host}', stderr: internal('Priority field should be an integer') },
    { cmd: 'message-create name=X priority=1 body=b', stderr: internal('Need one of: vm-uuid, host-uuid, sr-uuid or pool-uuid') },
    { cmd: 'message-create name=X priority=1 body=b vm-uuid={host}', stderr: lines(doc('UUID_INVALID'), 'type: VM', 'uuid: {host}') },
    { cmd: 'message-create name=X priority=1 host-uuid={host}', stderr: missingParam('body') },
    { cmd: 'message-destroy', stderr: internal('Need one of uuid, uuids') },
    { cmd: 'message-destroy uuid={m1} uuids={m2}', stderr: internal('Ambiguous arguments; need one of uuid, uuids') },
    { cmd: 'message-destroy uuids={m1},no-such-uuid', stderr: lines(doc('UUID_INVALID'), 'type: message', 'uuid: no-such-uuid') },
    { cmd: 'message-list params=uuid --minimal', stdoutRe: /^[0-9a-f-]{36},[0-9a-f-]{36}\n$/ },
    { cmd: 'message-destroy uuids={m1},{m2}' },
    { cmd: 'message-list --minimal', stdout: '\n' },
  ]);
});

test('network-sriov-create refuses a NIC without SR-IOV; -list is empty', async () => {
  await runTranscript(server, [
    { cmd: 'pif-list device=eth0 VLAN=-1 params=uuid --minimal', stdout: '{?pif}\n' },
    { cmd: 'network-create name-label=sriov', stdout: '{?net}\n' },
    { cmd: 'network-sriov-create pif-uuid={pif} network-uuid={net}', stderr: lines(doc('PIF_IS_NOT_SRIOV_CAPABLE'), 'PIF: {pif}') },
    { cmd: 'network-sriov-create pif-uuid={pif}', stderr: missingParam('network-uuid') },
    { cmd: 'network-sriov-list --minimal', stdout: '\n' },
    { cmd: 'network-sriov-destroy uuid=no-such-uuid', stderr: lines(doc('UUID_INVALID'), 'type: network_sriov', 'uuid: no-such-uuid') },
  ]);
});

test('sdn-controller-introduce/forget and -list', async () => {
  await runTranscript(server, [
    { cmd: 'sdn-controller-introduce address=192.0.2.7', stdout: '{?sdn}\n' },
    { cmd: 'sdn-controller-list', stdout: record([
      ['uuid ( RO)', '{sdn}'],
      ['protocol ( RO)', 'ssl'],
      ['address ( RO)', '192.0.2.7'],
      ['port ( RO)', '6632'],
    ]) },
    { cmd: 'sdn-controller-introduce protocol=pssl', stderr: lines(doc('OPERATION_NOT_ALLOWED'), 'reason: SDN controller has been configured. Please forget it first.') },
    { cmd: 'sdn-controller-forget uuid={sdn}' },
    { cmd: 'sdn-controller-introduce protocol=pssl tcp-port=abc', stderr: internal('port field should be an integer') },
    { cmd: 'sdn-controller-introduce protocol=ssl address=controller', stderr: lines(doc('INVALID_VALUE'), 'field: address', 'value: controller') },
    { cmd: 'sdn-controller-introduce protocol=pssl', stdout: '{?passive}\n' },
    { cmd: 'sdn-controller-param-get uuid={passive} param-name=port', stdout: '0\n' },
    { cmd: 'sdn-controller-forget uuid={passive}' },
    { cmd: 'sdn-controller-list --minimal', stdout: '\n' },
  ]);
});

test('blob-create names a new blob in its holder\'s blobs and prints its uuid; blob-put and blob-get move its content', async () => {
  const content = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
  writeFileSync(join(server.dir, 'in.bin'), content);
  await runTranscript(server, [
    { cmd: 'network-create name-label=with-blob', stdout: '{?net}\n' },
    { cmd: 'blob-create name=notes mime-type=text/plain network-uuid={net}', stdout: '{?blob}\n' },
    { cmd: 'network-param-get uuid={net} param-name=blobs', stdoutRe: /^notes: [0-9a-f-]{36}\n$/ },
    { cmd: 'blob-create name=notes network-uuid={net}', stderr: lines(doc('MAP_DUPLICATE_KEY'), 'type: network', 'param_name: blobs', 'uuid: {net} (with-blob)', 'key: notes') },
    // The content, as a file sent and fetched back.
    { cmd: 'blob-put uuid={blob} filename={dir}/in.bin' },
    { cmd: 'blob-get uuid={blob} filename={dir}/out.bin' },
    { cmd: 'blob-param-get uuid={blob} param-name=size', stderr: usage('Unknown command: blob-param-get'), status: 1 },
    { cmd: 'blob-get uuid=no-such-uuid filename={dir}/none.bin', stderr: 'Error: blob-get: HTTP 404 Unknown reference\n' },
    { cmd: 'blob-create name=x', stderr: internal('Need one of: vm-uuid, host-uuid, network-uuid, sr-uuid or pool-uuid') },
    { cmd: 'blob-create name=x network-uuid={net} public=maybe', stderr: "Error: Failed to parse parameter 'public': expecting a boolean (true or false)\n" },
  ], { dir: server.dir });
  assert.ok(readFileSync(join(server.dir, 'out.bin')).equals(content), 'the same bytes back');
});

test('host-set-hostname-live records a valid hostname and refuses others', async () => {
  await runTranscript(server, [
    { cmd: 'host-list params=uuid --minimal', stdout: '{?host}\n' },
    { cmd: 'host-set-hostname-live host-uuid={host} host-name=lab-host.example' },
    { cmd: 'host-param-get uuid={host} param-name=hostname', stdout: 'lab-host.example\n' },
    { cmd: 'host-set-hostname-live host-uuid={host} host-name=-bad', stderr: lines(doc('HOST_NAME_INVALID'), 'reason: hostname contains invalid characters') },
    { cmd: 'host-set-hostname-live host-uuid={host} host-name=bad_name', stderr: lines(doc('HOST_NAME_INVALID'), 'reason: hostname contains invalid characters') },
    { cmd: 'host-param-get uuid={host} param-name=hostname', stdout: 'lab-host.example\n' },
    { cmd: 'host-set-hostname-live host-uuid={host}', stderr: missingParam('host-name') },
  ]);
});
