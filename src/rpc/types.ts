// Shapes shared by the codecs and the listener.
import type { ClassDef, Ty, Value } from '../idl/meta.js';

/** What a handler answers: a value with its data-model type (null = void), or `[code, ...params]`. */
export type RpcResult = { ok: true; value: Value; ty: Ty | null } | { ok: false; error: string[] };

/** Class lookup used for type-directed record encoding. */
export type LookupClass = (name: string) => ClassDef | undefined;

export type RpcProtocol = 'xmlrpc' | 'jsonrpc';
