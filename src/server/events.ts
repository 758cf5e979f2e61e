// event.from (and the legacy register/next/unregister) over the store's change log.
// A token is "<generation>,<message generation>", both 20-digit zero-padded, so tokens
// compare as strings too. Only classes declared with `events` are ever streamed or counted
// (as xapi's gen_events): a subscription may name another class (session), or one that does
// not exist at all, and gets nothing.

import { ApiError } from '../common/api-error.js';
import type { Store } from '../db/store.js';
import type { Change } from '../db/change-log.js';
import type { ClassDef, Value } from '../idl/meta.js';
import type { ImplTable } from './context.js';
import { clientRecord } from './implicit.js';

const pad = (n: number) => String(n).padStart(20, '0');
export const tokenOf = (gen: number) => `${pad(gen)},${pad(0)}`;

/** Class names, and single objects as "Class/ref" (wire class spelling). */
interface Subscription { classes: Set<string> | 'all'; refs: Set<string> }

export class EventHub {
  private waiters = new Set<() => void>();
  private readonly registrations = new Map<string, { sub: Subscription; position: number; nextId: number }>();

  /** The classes whose changes are streamed. */
  private readonly streamed: readonly ClassDef[];

  private readonly byLowerName: Map<string, ClassDef>;

  constructor(private readonly store: Store, classes: readonly ClassDef[]) {
    this.streamed = classes.filter((c) => c.events);
    this.byLowerName = new Map(classes.map((c) => [c.name.toLowerCase(), c]));
    store.onCommit(() => {
      const ws = this.waiters;
      this.waiters = new Set();
      for (const w of ws) w();
    });
  }

  /** Parses `["*"]`, `["vif", "PIF/OpaqueRef:…"]` into a subscription. */
  parseClasses(list: Value): Subscription {
    const sub: Subscription = { classes: new Set(), refs: new Set() };
    for (const item of Array.isArray(list) ? list : []) {
      const s = String(item);
      if (s === '*') { sub.classes = 'all'; continue; }
      // As xapi's Subscription.of_string: "class" or "class/ref" split at the first slash; a
      // class that does not exist (or has no events) matches nothing rather than failing.
      const slash = s.indexOf('/');
      const cls = this.byLowerName.get((slash < 0 ? s : s.slice(0, slash)).toLowerCase());
      if (!cls?.events) continue;
      if (slash >= 0) sub.refs.add(`${cls.name}/${s.slice(slash + 1)}`);
      else if (sub.classes !== 'all') sub.classes.add(cls.name);
    }
    return sub;
  }

  private accepts(sub: Subscription, cls: string, ref: string): boolean {
    if (!this.store.classDef(cls).events) return false;
    return sub.classes === 'all' || sub.classes.has(cls) || sub.refs.has(`${cls}/${ref}`);
  }

  /**
   * event.from's events at one generation, shared by every watcher that asks at it: the same
   * frozen object, so the codec encodes each change once however many watchers follow it.
   */
  private shared = { id: '', events: new Map<string, Value>() };
  /**
   * event.from's answers at the current generation, by token and subscription: watchers that
   * are level with each other (all of them, right after a commit) get the same frozen answer.
   */
  private answers = { gen: -1, byKey: new Map<string, Value>() };

  private sharedEvent(ch: Change, id: string): Value {
    if (this.shared.id !== id) this.shared = { id, events: new Map() };
    const key = `${ch.op} ${ch.ref}`;
    let ev = this.shared.events.get(key);
    if (!ev) this.shared.events.set(key, ev = Object.freeze(this.event(ch, id, '0.0')));
    return ev;
  }

  private event(ch: Change, id: string, timestamp: string): Record<string, Value> {
    const ev: Record<string, Value> = { id, timestamp, class: ch.cls.toLowerCase(), operation: ch.op, ref: ch.ref };
    if (ch.op !== 'del') {
      const rec = this.store.find(ch.cls, ch.ref);
      if (!rec) return { ...ev, operation: 'del' };
      ev.snapshot = clientRecord(this.store.classDef(ch.cls), rec);
    }
    return ev;
  }

  private refCounts(sub: Subscription): Record<string, Value> {
    const counts: Record<string, Value> = {};
    for (const c of this.streamed) {
      if (sub.classes === 'all' || sub.classes.has(c.name)) counts[c.name.toLowerCase()] = this.store.count(c.name);
    }
    return counts;
  }

  /** Resolves on the next commit, or after `ms`. */
  private nextCommit(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiters.delete(done); resolve(); }, ms);
      // A long poll must not keep a closing process alive.
      timer.unref();
      const done = () => { clearTimeout(timer); resolve(); };
      this.waiters.add(done);
    });
  }

  async from(classes: Value, token: Value, timeout: Value): Promise<Value> {
    const sub = this.parseClasses(classes);
    const tok = String(token ?? '');
    if (tok === '') {
      const events: Value[] = [];
      const add = (cls: string, ref: string) => events.push(this.event({ ref, cls, op: 'add' }, String(this.store.generation), '0.0'));
      for (const c of this.streamed) {
        if (sub.classes === 'all' || sub.classes.has(c.name)) {
          for (const [ref] of this.store.all(c.name)) add(c.name, ref);
          continue;
        }
        const prefix = `${c.name}/`;
        for (const key of sub.refs) if (key.startsWith(prefix) && this.store.find(c.name, key.slice(prefix.length))) add(c.name, key.slice(prefix.length));
      }
      return { events, valid_ref_counts: this.refCounts(sub), token: tokenOf(this.store.generation) };
    }
    const m = /^(\d+),(\d+)$/.exec(tok);
    if (!m) throw new ApiError('EVENT_FROM_TOKEN_PARSE_FAILURE', [tok]);
    const since = Number(m[1]);
    // Never block longer than the client's own limit would allow, nor forever.
    const deadline = Date.now() + Math.max(0, Math.min(Number(timeout) || 0, 600)) * 1000;
    const key = `${since} ${JSON.stringify(classes)}`;
    for (;;) {
      if (!this.store.log.covers(since)) throw new ApiError('EVENTS_LOST', []);
      const gen = this.store.generation;
      const shared = this.answers.gen === gen ? this.answers.byKey.get(key) : undefined;
      if (shared) return shared;
      const changes = this.store.log.since(since, (cls, ref) => this.accepts(sub, cls, ref));
      const left = deadline - Date.now();
      if (changes.length > 0 || left <= 0) {
        const id = String(gen);
        const order = { add: 0, mod: 1, del: 2 };
        changes.sort((a, b) => order[a.op] - order[b.op]);
        const answer = {
          events: Object.freeze(changes.map((c) => this.sharedEvent(c, id))) as Value[],
          valid_ref_counts: Object.freeze(this.refCounts(sub)), token: tokenOf(gen),
        };
        if (changes.length === 0) return answer;
        if (this.answers.gen !== gen) this.answers = { gen, byKey: new Map() };
        this.answers.byKey.set(key, Object.freeze(answer));
        return answer;
      }
      await this.nextCommit(left);
    }
  }

  register(session: string, classes: Value): void {
    const sub = this.parseClasses(classes);
    const cur = this.registrations.get(session);
    if (cur) {
      if (sub.classes === 'all' || cur.sub.classes === 'all') cur.sub.classes = 'all';
      else for (const c of sub.classes) cur.sub.classes.add(c);
      for (const r of sub.refs) cur.sub.refs.add(r);
    } else this.registrations.set(session, { sub, position: this.store.generation, nextId: 1 });
  }

  unregister(session: string, classes: Value): void {
    const reg = this.registrations.get(session);
    if (!reg) return;
    const sub = this.parseClasses(classes);
    if (sub.classes === 'all') this.registrations.delete(session);
    else if (reg.sub.classes !== 'all') for (const c of sub.classes) reg.sub.classes.delete(c);
    // Nothing left to wait for: the session is no longer registered.
    if (reg.sub.classes !== 'all' && reg.sub.classes.size === 0 && reg.sub.refs.size === 0) this.registrations.delete(session);
  }

  forget(session: string): void { this.registrations.delete(session); }

  /** Legacy event.next: blocks until something the session registered for has changed. */
  async next(session: string): Promise<Value> {
    for (;;) {
      const reg = this.registrations.get(session);
      if (!reg) throw new ApiError('SESSION_NOT_REGISTERED', [session]);
      if (!this.store.log.covers(reg.position)) throw new ApiError('EVENTS_LOST', []);
      const changes = this.store.log.since(reg.position, (cls, ref) => this.accepts(reg.sub, cls, ref));
      reg.position = this.store.generation;
      if (changes.length > 0) {
        const ts = `${Math.floor(Date.now() / 1000)}.`;
        return changes.map((c) => this.event(c, String(reg.nextId++), ts));
      }
      await this.nextCommit(30_000);
    }
  }
}

export function eventImpls(hub: EventHub, store: Store): ImplTable {
  return {
    'event.from': (_ctx, a) => hub.from(a.classes!, a.token!, a.timeout!),
    'event.register': (ctx, a) => { hub.register(ctx.session!.ref, a.classes!); },
    'event.unregister': (ctx, a) => { hub.unregister(ctx.session!.ref, a.classes!); },
    'event.next': (ctx) => hub.next(ctx.session!.ref),
    'event.get_current_id': () => store.generation,
    'event.inject': (_ctx, a) => {
      const cls = store.classDef(findClassName(store, String(a.class)));
      const ref = String(a.ref);
      // No event would come of it (session): nothing to inject.
      if (!cls.events) throw new ApiError('HANDLE_INVALID', [cls.name, ref]);
      store.transact((tx) => tx.touch(cls.name, ref));
      return tokenOf(store.generation);
    },
  };
}

function findClassName(store: Store, name: string): string {
  for (const c of store.classes.keys()) if (c.toLowerCase() === name.toLowerCase()) return c;
  throw new ApiError('HANDLE_INVALID', [name, '']);
}
