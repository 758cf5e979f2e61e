// Record layout and --minimal output, as xe prints them. Pure string building.

export type Marker = '( RO)' | '( RW)' | '(SRO)' | '(SRW)' | '(MRO)' | '(MRW)';

export interface Row {
  /** CLI field name, e.g. `name-label`. */
  name: string;
  marker: Marker;
  deprecated?: boolean;
  value: string;
}

export function label(row: Row): string {
  return `${row.name} ${row.marker}${row.deprecated ? ' [DEPRECATED]' : ''}`;
}

/**
 * One record: the first label padded on the right, the others on the left, all to
 * 4 + the longest label; then two blank lines (one from the "server", one from the client).
 */
export function formatRecord(rows: readonly Row[]): string {
  const labels = rows.map(label);
  const width = 4 + Math.max(0, ...labels.map((l) => l.length));
  const lines = labels.map((l, i) => `${i === 0 ? l.padEnd(width) : l.padStart(width)}: ${rows[i]!.value}`);
  return lines.map((l) => `${l}\n`).join('') + '\n\n';
}

/** `\` → `\\`, `,` → `\,` so that values can be joined with commas. */
export function escapeMinimal(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/,/g, '\\,');
}

/** One line: the first printed value of each record, comma-joined (empty line when none). */
export function formatMinimal(firstValues: readonly string[]): string {
  return `${firstValues.map(escapeMinimal).join(',')}\n`;
}

/** `k: v; k2: v2` */
export function formatMap(m: Record<string, string>): string {
  return Object.entries(m).map(([k, v]) => `${k}: ${v}`).join('; ');
}

/** Floats print with three decimals, as `%.3f`. */
export function formatFloat(n: number): string {
  return Number.isFinite(n) ? n.toFixed(3) : String(n);
}
