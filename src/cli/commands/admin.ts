// Messages, SR-IOV networks, the SDN controller record and the live hostname, as xe's
// (xen-api: ocaml/xapi-cli-server/cli_frontend.ml and cli_operations.ml); their -list and
// -param-* commands are generated from tables.ts.
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { CliFailure, parseBool, parseEnum, splitList } from '../args.js';
import { opt, req, type Command } from '../command.js';
import { refParam } from './net.js';

/** message-create's object parameters, in the order xe reads them, with the message class each names. */
const MESSAGE_OBJECTS: Array<[string, string, string]> = [
  ['vm-uuid', 'VM', 'VM'], ['pool-uuid', 'Pool', 'pool'], ['sr-uuid', 'SR', 'SR'], ['host-uuid', 'Host', 'host'],
];

/** blob-create's holders, in the order xe reads them: [parameter, class]. */
const BLOB_HOLDERS: Array<[string, string]> = [['vm-uuid', 'VM'], ['pool-uuid', 'pool'], ['sr-uuid', 'SR'], ['host-uuid', 'host'], ['network-uuid', 'network']];

/** The reply of a blob transfer, or an error naming its status and the server's reason. */
async function blobReply(res: IncomingMessage, what: string): Promise<void> {
  if (res.statusCode === 200) return;
  const chunks: Buffer[] = [];
  for await (const c of res) { chunks.push(c as Buffer); if (chunks.length > 16) break; }
  throw new Error(`${what}: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').trim().slice(0, 200)}`);
}

async function transferOf(env: Parameters<Command['run']>[0]) {
  const c = await env.client();
  if (!c.transfer) throw new Error('this connection cannot transfer files');
  return c.transfer.bind(c);
}

export const ADMIN_COMMANDS: Command[] = [
  {
    name: 'blob-put', reqd: ['uuid', 'filename'], optn: [], hidden: true,
    help: 'Upload a binary blob to the xapi server',
    run: async (env) => {
      const file = req(env, 'filename');
      const length = (await stat(file)).size;
      const transfer = await transferOf(env);
      const res = await transfer('PUT', '/blob', { uuid: req(env, 'uuid') }, { stream: createReadStream(file), length });
      await blobReply(res, 'blob-put');
      res.resume();
    },
  },
  {
    name: 'blob-get', reqd: ['uuid', 'filename'], optn: [], hidden: true,
    help: 'Save the binary blob to the local filesystem',
    run: async (env) => {
      const transfer = await transferOf(env);
      const res = await transfer('GET', '/blob', { uuid: req(env, 'uuid') });
      await blobReply(res, 'blob-get');
      await pipeline(res, createWriteStream(req(env, 'filename')));
    },
  },
  {
    name: 'blob-create', reqd: ['name'], optn: ['mime-type', ...BLOB_HOLDERS.map(([p]) => p), 'public'], hidden: true,
    help: 'Create a binary blob to be associated with an API object',
    run: async (env) => {
      const isPublic = parseBool('public', opt(env, 'public', 'false'));
      const holder = BLOB_HOLDERS.find(([p]) => env.params.has(p));
      if (!holder) throw new CliFailure('Need one of: vm-uuid, host-uuid, network-uuid, sr-uuid or pool-uuid');
      const c = await env.client();
      const ref = await refParam(c, env, holder[1], holder[0]);
      const blob = await c.call<string>(`${holder[1]}.create_new_blob`, ref, req(env, 'name'), opt(env, 'mime-type', ''), isPublic);
      env.out(`${await c.call<string>('blob.get_uuid', blob)}\n`);
    },
  },
  {
    name: 'message-create', reqd: ['name', 'priority', 'body'], optn: MESSAGE_OBJECTS.map(([p]) => p),
    help: 'Create a message associated with a particular API object. Note exactly one of the optional parameters must be supplied.',
    run: async (env) => {
      const priority = req(env, 'priority').trim();
      if (!/^[+-]?\d+$/.test(priority)) throw new CliFailure('Priority field should be an integer');
      const chosen = MESSAGE_OBJECTS.find(([p]) => env.params.has(p));
      if (!chosen) throw new CliFailure('Need one of: vm-uuid, host-uuid, sr-uuid or pool-uuid');
      const c = await env.client();
      await c.call('message.create', req(env, 'name'), Number(priority), chosen[1], req(env, chosen[0]), req(env, 'body'));
    },
  },
  {
    name: 'message-destroy', reqd: [], optn: ['uuid', 'uuids'],
    help: 'Destroy one existing message or many',
    run: async (env) => {
      const uuid = env.params.get('uuid');
      const uuids = env.params.get('uuids');
      if (uuid !== undefined && uuids !== undefined) throw new CliFailure('Ambiguous arguments; need one of uuid, uuids');
      if (uuid === undefined && uuids === undefined) throw new CliFailure('Need one of uuid, uuids');
      const c = await env.client();
      const refs = await Promise.all((uuid !== undefined ? [uuid] : splitList(uuids!))
        .map((u) => c.call<string>('message.get_by_uuid', u)));
      await c.call('message.destroy_many', refs);
    },
  },
  {
    name: 'network-sriov-create', reqd: ['pif-uuid', 'network-uuid'], optn: [],
    help: 'Create a new network-sriov on a PIF.',
    run: async (env) => {
      const c = await env.client();
      const pif = await refParam(c, env, 'PIF', 'pif-uuid');
      const network = await refParam(c, env, 'network', 'network-uuid');
      const ref = await c.call<string>('network_sriov.create', pif, network);
      env.out(`${await c.call<string>('network_sriov.get_uuid', ref)}\n`);
    },
  },
  {
    name: 'network-sriov-destroy', reqd: ['uuid'], optn: [],
    help: 'Destroy a network-sriov.',
    run: async (env) => {
      const c = await env.client();
      await c.call('network_sriov.destroy', await refParam(c, env, 'network_sriov', 'uuid'));
    },
  },
  {
    name: 'sdn-controller-introduce', reqd: [], optn: ['address', 'protocol', 'tcp-port'],
    help: 'Introduce an SDN controller',
    run: async (env) => {
      const portText = opt(env, 'tcp-port', '0').trim();
      if (!/^[+-]?\d+$/.test(portText)) throw new CliFailure('port field should be an integer');
      const protocol = parseEnum(['ssl', 'pssl'], opt(env, 'protocol', 'ssl'));
      const c = await env.client();
      const ref = await c.call<string>('SDN_controller.introduce', protocol, opt(env, 'address', ''), Number(portText));
      env.out(`${await c.call<string>('SDN_controller.get_uuid', ref)}\n`);
    },
  },
  {
    name: 'sdn-controller-forget', reqd: ['uuid'], optn: [],
    help: 'Remove an SDN controller',
    run: async (env) => {
      const c = await env.client();
      await c.call('SDN_controller.forget', await refParam(c, env, 'SDN_controller', 'uuid'));
    },
  },
  {
    name: 'host-set-hostname-live', reqd: ['host-uuid', 'host-name'], optn: [],
    help: 'Sets the host name to the specified string.  Both the API and lower-level system hostname are changed.',
    run: async (env) => {
      const c = await env.client();
      await c.call('host.set_hostname_live', await refParam(c, env, 'host', 'host-uuid'), req(env, 'host-name'));
    },
  },
];
