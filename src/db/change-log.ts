// The change log behind event.from: which object changed at which generation, and how.
// It keeps the last `size` changes; a token older than what it still holds cannot be served
// (EVENTS_LOST), which is what makes it bounded. Entries are kept in parallel arrays (a few
// bytes each, no object per change), and nothing else is kept per object: what an object's
// changes since a token add up to is read from its entries after the token.

export type ChangeKind = 'add' | 'mod' | 'del';

export interface Change { ref: string; cls: string; op: ChangeKind }

export class ChangeLog {
  private gens: number[] = [];
  private refs: string[] = [];
  private classes: string[] = [];
  private kinds: ChangeKind[] = [];
  private head = 0; // index of the oldest live entry (entries are dropped lazily)
  /** Tokens at or after this generation can be answered. */
  private floorGen: number;

  constructor(private readonly size: number, startGen: number) {
    this.floorGen = startGen;
  }

  record(gen: number, ref: string, cls: string, kind: ChangeKind): void {
    this.gens.push(gen);
    this.refs.push(ref);
    this.classes.push(cls);
    this.kinds.push(kind);
    if (this.gens.length - this.head > this.size) this.dropOldest();
  }

  /** True when changes after `gen` can still be listed completely. */
  covers(gen: number): boolean { return gen >= this.floorGen; }

  /**
   * Changes after generation `since`, coalesced to one per object as event.from wants: `add`
   * if created after `since` (its first change since then is its creation), `del` if deleted
   * after and created before, nothing if both, else `mod`. In the order of each object's first
   * change. `accept` filters by class and ref before anything is collected.
   */
  since(since: number, accept: (cls: string, ref: string) => boolean): Change[] {
    /** Per object seen: its index in `out`, or -1 when not accepted. */
    const at = new Map<string, number>();
    const out: Array<Change & { deleted?: boolean }> = [];
    for (let i = this.firstAfter(since); i < this.gens.length; i++) {
      const ref = this.refs[i]!;
      const kind = this.kinds[i]!;
      const j = at.get(ref);
      if (j === undefined) {
        const cls = this.classes[i]!;
        if (!accept(cls, ref)) { at.set(ref, -1); continue; }
        at.set(ref, out.length);
        out.push({ ref, cls, op: kind === 'add' ? 'add' : 'mod', deleted: kind === 'del' });
      } else if (j >= 0 && kind === 'del') out[j]!.deleted = true;
    }
    const changes: Change[] = [];
    for (const c of out) {
      if (c.deleted) { if (c.op !== 'add') changes.push({ ref: c.ref, cls: c.cls, op: 'del' }); } else changes.push({ ref: c.ref, cls: c.cls, op: c.op });
    }
    return changes;
  }

  private firstAfter(gen: number): number {
    let lo = this.head, hi = this.gens.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.gens[mid]! <= gen) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  private dropOldest(): void {
    this.floorGen = this.gens[this.head]!;
    // Let go of the ref at once; the slots themselves go with the next compaction.
    this.refs[this.head] = '';
    this.head++;
    if (this.head > 4096 && this.head * 2 > this.gens.length) {
      this.gens = this.gens.slice(this.head);
      this.refs = this.refs.slice(this.head);
      this.classes = this.classes.slice(this.head);
      this.kinds = this.kinds.slice(this.head);
      this.head = 0;
    }
  }
}
