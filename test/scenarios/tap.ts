// Reads the TAP that `node --test --test-reporter=tap` writes into a tree of results, so a
// runner outside the process (the VM tier, running the suite in a guest) can check exactly
// which tests ran and how each ended. Subtests are indented four spaces per level and come
// before their parent's own result line; YAML diagnostics ("---" … "...") are skipped.

export interface TapResult {
  name: string;
  ok: boolean;
  /** "SKIP <reason>" or "TODO <reason>" as written, else ''. */
  directive: string;
  subtests: TapResult[];
}

const RESULT = /^((?: {4})*)(not )?ok \d+(?: - (.*))?$/;

/**
 * Undoes the reporter's escaping of `\\` and `#`. Node 20 writes a newline in a name as `\\n`,
 * the same as a backslash followed by n: names with control characters do not survive TAP.
 */
function unescape(s: string): string {
  return s.replace(/\\([\\#])/g, '$1');
}

/** Splits "name # SKIP why" at the first unescaped " # ". */
function splitDirective(text: string): [string, string] {
  const m = /^((?:[^\\#]|\\.)*?) # ((?:SKIP|TODO)\b.*)$/i.exec(text);
  return m ? [unescape(m[1]!), unescape(m[2]!)] : [unescape(text), ''];
}

export function parseTap(text: string): TapResult[] {
  const pending: TapResult[][] = [[]];
  let yamlIndent: string | undefined;
  for (const line of text.split('\n')) {
    if (yamlIndent !== undefined) {
      if (line === `${yamlIndent}...`) yamlIndent = undefined;
      continue;
    }
    const y = /^( *)---$/.exec(line);
    if (y) { yamlIndent = y[1]; continue; }
    const m = RESULT.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const [name, directive] = splitDirective(m[3] ?? '');
    const subtests = pending[depth + 1] ?? [];
    pending[depth + 1] = [];
    (pending[depth] ??= []).push({ name, ok: !m[2], directive, subtests });
  }
  return pending[0]!;
}
