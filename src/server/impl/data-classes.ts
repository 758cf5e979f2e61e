// The explicit messages xcpnet serves for classes that are otherwise data only (the list is
// SERVED in src/idl/datamodel.ts): message (xen-api: ocaml/xapi/xapi_message.ml), SDN_controller
// (xapi_sdn_controller.ml), network_sriov (xapi_network_sriov.ml), blob records and the
// create_new_blob of their holders (xapi_blob.ml).

import { randomBytes } from 'node:crypto';
import { ApiError } from '../../common/api-error.js';
import { parseIPv4 } from '../../common/net-syntax.js';
import type { Tx } from '../../db/store.js';
import { normaliseDatetime } from '../../rpc/shape.js';
import type { Value } from '../../idl/meta.js';
import { compactNow } from '../sessions.js';
import { clientRecord } from '../implicit.js';
import type { CallContext, Rules } from '../context.js';
import { isRef } from './common.js';

/**
 * Messages kept: xapi keeps its newest 10,000 (Xapi_globs.message_limit) and reaps the oldest.
 * xcpnet does the same, and also keeps their names and bodies to 16 MiB in all (a body may be
 * 64 KiB, the longest string a request may carry), so the table stays bounded in memory too.
 */
export const MESSAGE_LIMIT = 10_000;
export const MESSAGE_BYTES_LIMIT = 16 * 1024 * 1024;

/** The class a message is about (message.cls) as the class whose uuid it names. */
const MESSAGE_CLASSES: Record<string, string> = {
  VM: 'VM', Host: 'host', SR: 'SR', Pool: 'pool', VMPP: 'VMPP', VMSS: 'VMSS', PVS_proxy: 'PVS_proxy', VDI: 'VDI', Certificate: 'Certificate',
};

function objectExists(ctx: CallContext, cls: string, uuid: string): boolean {
  const c = MESSAGE_CLASSES[cls];
  return c !== undefined && ctx.services.store.classes.has(c) && ctx.services.store.refOfUuidIn(c, uuid) !== undefined;
}

/**
 * A message's ref is a time-ordered UUID (version 7, RFC 9562, with a counter within one
 * millisecond), so "oldest" is well defined among messages of the same second, after a restart too.
 */
let lastMs = 0;
let seq = 0;
function messageRef(): string {
  let ms = Date.now();
  if (ms <= lastMs) { ms = lastMs; seq++; if (seq > 0xfff) { ms++; seq = 0; } } else seq = 0;
  lastMs = ms;
  const hex = ms.toString(16).padStart(12, '0');
  const rand = randomBytes(8).toString('hex');
  const variant = (8 | (parseInt(rand[0]!, 16) & 3)).toString(16);
  return `OpaqueRef:${hex.slice(0, 8)}-${hex.slice(8)}-7${seq.toString(16).padStart(3, '0')}-${variant}${rand.slice(1, 4)}-${rand.slice(4, 16)}`;
}

const sizeOf = (rec: { name?: Value; body?: Value }) => String(rec.name ?? '').length + String(rec.body ?? '').length;

/** Reaps the oldest messages until one of `incoming` size fits both bounds. */
function makeRoom(tx: Tx, incoming: number): void {
  const all = tx.all('message');
  let bytes = all.reduce((n, [, rec]) => n + sizeOf(rec), 0);
  if (all.length < MESSAGE_LIMIT && bytes + incoming <= MESSAGE_BYTES_LIMIT) return;
  // Oldest first; ties by ref, so the order is the same after a restart. Usually one goes: a scan
  // for the oldest per message reaped, not a sort of them all (a full table is the common case).
  const key = ([ref, rec]: [string, { timestamp?: Value }]): string => `${String(rec.timestamp)} ${ref}`;
  const left = new Map(all);
  while (left.size >= MESSAGE_LIMIT || bytes + incoming > MESSAGE_BYTES_LIMIT) {
    let oldest: [string, (typeof all)[number][1]] | undefined;
    for (const e of left) if (!oldest || key(e) < key(oldest)) oldest = e;
    if (!oldest) break;
    tx.destroy('message', oldest[0]);
    left.delete(oldest[0]);
    bytes -= sizeOf(oldest[1]);
  }
}

/** A `since` parameter as a comparable compact datetime, or INVALID_VALUE. */
function since(v: Value): string {
  const t = normaliseDatetime(v);
  if (t === undefined) throw new ApiError('INVALID_VALUE', ['since', String(v)]);
  return t;
}

function messagesWhere(ctx: CallContext, keep: (rec: Record<string, Value>) => boolean): Record<string, Value> {
  const cls = ctx.services.lookupClass('message')!;
  const out: Record<string, Value> = {};
  for (const [ref, rec] of ctx.services.store.all('message')) if (keep(rec)) out[ref] = clientRecord(cls, rec);
  return out;
}

/** The classes with a `blobs` map (name → blob) that create_new_blob fills. */
const BLOB_HOLDERS = ['VM', 'host', 'pool', 'network', 'SR'] as const;

/**
 * As xapi's Xapi_blob.create and create_new_blob: an empty blob (size 0, last updated at the
 * epoch; "" is application/octet-stream), named in its holder's blobs map.
 */
function createNewBlob(ctx: CallContext, cls: typeof BLOB_HOLDERS[number], holder: string, name: string, mimeType: string, isPublic: boolean): string {
  return ctx.services.store.transact((tx) => {
    const blobs = tx.get(cls, holder).blobs as Record<string, Value>;
    if (Object.hasOwn(blobs, name)) throw new ApiError('MAP_DUPLICATE_KEY', [cls, 'blobs', holder, name]);
    const blob = newBlob(tx, mimeType, isPublic);
    tx.update(cls, holder, { blobs: { ...blobs, [name]: blob } });
    return blob;
  });
}

function newBlob(tx: Tx, mimeType: string, isPublic: boolean): string {
  return tx.create('blob', {
    mime_type: mimeType === '' ? 'application/octet-stream' : mimeType, public: isPublic, size: 0,
    last_updated: '19700101T00:00:00Z', name_label: '', name_description: '',
  });
}

export const dataClassRules: Rules = {
  'blob.create': (ctx, a) => ctx.services.store.transact((tx) => newBlob(tx, a.mime_type, a.public)),
  // The blob leaves every blobs map that names it (xapi: VMs' only); its content goes with
  // `xcpnet serve`'s wrapper (blob-http.ts).
  'blob.destroy': (ctx, a) => {
    ctx.services.store.transact((tx) => {
      tx.get('blob', a.self);
      for (const cls of BLOB_HOLDERS) {
        for (const [ref, rec] of tx.all(cls)) {
          const blobs = rec.blobs as Record<string, Value>;
          const kept = Object.fromEntries(Object.entries(blobs).filter(([, b]) => b !== a.self));
          if (Object.keys(kept).length !== Object.keys(blobs).length) tx.update(cls, ref, { blobs: kept });
        }
      }
      tx.destroy('blob', a.self);
    });
  },
  'network.create_new_blob': (ctx, a) => createNewBlob(ctx, 'network', a.network, a.name, a.mime_type, a.public),
  'host.create_new_blob': (ctx, a) => createNewBlob(ctx, 'host', a.host, a.name, a.mime_type, a.public),
  'pool.create_new_blob': (ctx, a) => createNewBlob(ctx, 'pool', a.pool, a.name, a.mime_type, a.public),
  'VM.create_new_blob': (ctx, a) => createNewBlob(ctx, 'VM', a.vm, a.name, a.mime_type, a.public),
  'SR.create_new_blob': (ctx, a) => createNewBlob(ctx, 'SR', a.sr, a.name, a.mime_type, a.public),

  'message.create': (ctx, a) => {
    // xapi checks the object's uuid (UUID_INVALID [class, uuid]); the body is UTF-8 by construction.
    if (!objectExists(ctx, a.cls, a.obj_uuid)) throw new ApiError('UUID_INVALID', [a.cls, a.obj_uuid]);
    const fields = { name: a.name, priority: a.priority, cls: a.cls, obj_uuid: a.obj_uuid, body: a.body, timestamp: compactNow() };
    return ctx.services.store.transact((tx) => {
      makeRoom(tx, sizeOf(fields));
      return tx.create('message', fields, messageRef());
    });
  },
  'message.destroy': (ctx, a) => {
    ctx.services.store.transact((tx) => { tx.get('message', a.self); tx.destroy('message', a.self); });
  },
  // Every ref was checked before the call (HANDLE_INVALID for the first bad one): all or none.
  'message.destroy_many': (ctx, a) => {
    ctx.services.store.transact((tx) => { for (const ref of new Set(a.messages)) tx.destroy('message', ref); });
  },
  'message.get': (ctx, a) => {
    const after = since(a.since);
    // xapi: UUID_INVALID with no parameters here.
    if (!objectExists(ctx, a.cls, a.obj_uuid)) throw new ApiError('UUID_INVALID', []);
    return messagesWhere(ctx, (m) => m.cls === a.cls && m.obj_uuid === a.obj_uuid && String(m.timestamp) > after);
  },
  'message.get_since': (ctx, a) => {
    const after = since(a.since);
    return messagesWhere(ctx, (m) => String(m.timestamp) > after);
  },

  'SDN_controller.introduce': (ctx, a) => {
    const store = ctx.services.store;
    if (store.count('SDN_controller') > 0) {
      throw new ApiError('OPERATION_NOT_ALLOWED', ['SDN controller has been configured. Please forget it first.']);
    }
    // As xapi: pssl listens (no address, no port); ssl connects to an IPv4 address.
    if (a.protocol === 'pssl') {
      if (a.address !== '') throw new ApiError('INVALID_VALUE', ['address', a.address]);
      if (a.port !== 0) throw new ApiError('INVALID_VALUE', ['port', String(a.port)]);
    } else if (parseIPv4(a.address) === undefined) {
      throw new ApiError('INVALID_VALUE', ['address', a.address]);
    }
    if (a.port !== 0 && !(Number.isInteger(a.port) && a.port >= 1 && a.port <= 65535)) throw new ApiError('INVALID_VALUE', ['port', String(a.port)]);
    const port = a.protocol === 'ssl' && a.port === 0 ? 6632 : a.port;
    return store.transact((tx) => tx.create('SDN_controller', { protocol: a.protocol, address: a.address, port }));
  },
  'SDN_controller.forget': (ctx, a) => {
    ctx.services.store.transact((tx) => { tx.get('SDN_controller', a.self); tx.destroy('SDN_controller', a.self); });
  },

  'network_sriov.create': (ctx, a) => {
    const store = ctx.services.store;
    const net = store.get('network', a.network);
    const pif = store.get('PIF', a.pif);
    if (net.managed === false) throw new ApiError('NETWORK_UNMANAGED', [a.network]);
    if (pif.managed === false) throw new ApiError('PIF_UNMANAGED', [a.pif]);
    if (pif.physical !== true) throw new ApiError('PIF_IS_NOT_PHYSICAL', [a.pif]);
    if ((pif.sriov_physical_PIF_of).length > 0) throw new ApiError('NETWORK_SRIOV_ALREADY_ENABLED', [a.pif]);
    // xapi needs "sriov" in PIF.capabilities (read-only); xcpnet's agent reports no capability
    // and drives no virtual functions, so every PIF is refused here.
    throw new ApiError('PIF_IS_NOT_SRIOV_CAPABLE', [a.pif]);
  },
  'network_sriov.destroy': (ctx, a) => {
    ctx.services.store.transact((tx) => {
      const sriov = tx.get('network_sriov', a.self);
      const logical = String(sriov.logical_PIF);
      const pif = isRef(logical) ? tx.find('PIF', logical) : undefined;
      if (pif && (pif.VLAN_slave_of).length > 0) throw new ApiError('PIF_VLAN_STILL_EXISTS', [logical]);
      if (pif) tx.destroy('PIF', logical);
      tx.destroy('network_sriov', a.self);
    });
  },
  'network_sriov.get_remaining_capacity': (ctx, a) => { ctx.services.store.get('network_sriov', a.self); return 0; },
};

