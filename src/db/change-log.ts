// The change log behind event.from: which object changed at which generation, and how.
// It keeps the last `size` changes; a token older than what it still holds cannot be served
// (EVENTS_LOST), which is what makes it bounded.

export type ChangeKind = 'add' | 'mod' | 'del';

export interface Change { ref: string; cls: string; op: ChangeKind }

interface Entry { gen: number; ref: string; cls: string; kind: ChangeKind }

export class ChangeLog {
  private entries: Entry[] = [];
  private head = 0; // index of the oldest live entry (entries are dropped lazily)
  /** Tokens at or after this generation can be answered. */
  private floorGen: number;
  /** Generation at which each live object was created (absent: before this process started). */
  private readonly createdAt = new Map<string, number>();
  /** Deleted objects still covered by the log: their class and creation generation. */
  private readonly tombstones = new Map<string, { cls: string; created: number }>();

  constructor(private readonly size: number, startGen: number) {
    this.floorGen = startGen;
  }

  record(gen: number, ref: string, cls: string, kind: ChangeKind): void {
    if (kind === 'add') this.createdAt.set(ref, gen);
    if (kind === 'del') {
      this.tombstones.set(ref, { cls, created: this.createdAt.get(ref) ?? 0 });
      this.createdAt.delete(ref);
    }
    this.entries.push({ gen, ref, cls, kind });
    if (this.entries.length - this.head > this.size) this.dropOldest();
  }

  /** True when changes after `gen` can still be listed completely. */
  covers(gen: number): boolean { return gen >= this.floorGen; }

  /**
   * Changes after generation `since`, coalesced to one per object as event.from wants:
   * `add` if created after `since`, `del` if deleted after and created before, else `mod`.
   * `accept` filters by class and ref before anything is collected.
   */
  since(since: number, accept: (cls: string, ref: string) => boolean): Change[] {
    const seen = new Set<string>();
    const out: Change[] = [];
    for (let i = this.firstAfter(since); i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (seen.has(e.ref)) continue;
      seen.add(e.ref);
      if (!accept(e.cls, e.ref)) continue;
      const created = this.createdAt.get(e.ref);
      const tomb = this.tombstones.get(e.ref);
      if (created === undefined && tomb) {
        if (tomb.created <= since) out.push({ ref: e.ref, cls: e.cls, op: 'del' });
      } else if (created !== undefined && created > since) out.push({ ref: e.ref, cls: e.cls, op: 'add' });
      else out.push({ ref: e.ref, cls: e.cls, op: 'mod' });
    }
    return out;
  }

  private firstAfter(gen: number): number {
    let lo = this.head, hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid]!.gen <= gen) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  private dropOldest(): void {
    const e = this.entries[this.head++]!;
    this.floorGen = e.gen;
    if (e.kind === 'del') this.tombstones.delete(e.ref);
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
