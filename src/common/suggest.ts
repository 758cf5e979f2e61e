// "Did you mean …": the closest known word to a mistyped one, for errors with a way forward.

/** Levenshtein distance (insertions, deletions, substitutions; a swap of neighbours counts 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known word closest to `word`, if it is close enough to be a typo (at most a third of its
 * letters differ, and never more than 3); ties go to the first in `known`.
 */
export function closest(word: string, known: Iterable<string>): string | undefined {
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    // Bounded inputs only: a word far longer than any known one cannot be a typo of it.
    if (Math.abs(k.length - word.length) > limit || word.length > 200) continue;
    const dist = editDistance(word.toLowerCase(), k.toLowerCase());
    if (dist < bestD) { best = k; bestD = dist; }
  }
  return bestD <= limit ? best : undefined;
}
