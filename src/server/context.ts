// Types shared by the dispatcher and the rule modules (src/server/impl/*).

import type { Store } from '../db/store.js';
import type { ClassDef, Param, Role, Ty, Value } from '../idl/meta.js';
import type { Args } from '../idl/types.gen.js';
import type { RealisationHub } from './realise.js';

export interface Session {
  ref: string;
  user: string;
  role: Role;
  /** Set for a member's host credential (session.slave_login): the only host it may act for. */
  host?: string;
}

/** Server-wide facts a rule may need. */
export interface ServerServices {
  store: Store;
  hub: RealisationHub;
  /** The pool's own (master) host. */
  masterHost(): string;
  lookupClass(name: string): ClassDef | undefined;
  /** Sets the progress of an Async call's task (no-op for a synchronous call). */
  progress(task: string | undefined, value: number): void;
  /** Runs an API call on behalf of a rule (another message's full semantics). */
  invoke(ctx: CallContext, method: string, args: Record<string, Value>): Promise<Value>;
}

export interface CallContext {
  services: ServerServices;
  session: Session | null;
  method: string;
  /** The task of an `Async.` call. */
  task?: string;
  /** The client's address as the listener saw it (absent on the unix socket and in-process). */
  remote?: string;
  /** The call came over the local unix socket, which only the server's own user can open. */
  local?: boolean;
}

/** An implementation of one message: named arguments in, a wire value (or nothing) out. */
export type Impl = (ctx: CallContext, args: Record<string, Value>) => Value | void | Promise<Value | void>;

/** A module's implementations, keyed by full method name (`VLAN.create`). */
export type ImplTable = Record<string, Impl>;

/**
 * A rule module: implementations of the modelled classes' messages, each with its arguments
 * typed from the IDL (Args in src/idl/types.gen.ts).
 */
export type Rules = { [M in keyof Args]?: (ctx: CallContext, args: Args[M]) => Value | void | Promise<Value | void> };

/**
 * The dispatch table's view of a rule module. The one cast: the server decodes every argument by
 * its IDL type before it calls an implementation, so the arguments are what Args says.
 */
export const implsOf = (rules: Rules): ImplTable => rules as unknown as ImplTable;

export interface Method {
  /** `Class.message` */
  name: string;
  cls: ClassDef;
  params: Param[];
  result: Ty | null;
  role: Role;
  async: boolean;
  sessionless: boolean;
  removed: boolean;
  /**
   * Reads only its own class's objects (the implicit getters): its reply waits only for that
   * class's last commit to be on disk, not for writes elsewhere (XapiServer.handle).
   */
  classRead?: boolean;
  /** Declared, but no rule implements it: it answers NOT_IMPLEMENTED [name] (docs/differences.md). */
  unimplemented?: boolean;
  /** The implementation: a registered rule, else the implicit one derived from the IDL. */
  run: Impl;
}
