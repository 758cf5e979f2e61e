import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CLASSES } from './index.js';
import { generateTypes } from './typegen.js';

test('types.gen.ts is what the IDL generates (else run node scripts/gen-types.mjs)', () => {
  const checkedIn = readFileSync(new URL('../../../src/idl/types.gen.ts', import.meta.url), 'utf8');
  assert.ok(checkedIn === generateTypes(CLASSES), 'src/idl/types.gen.ts is stale: run `npx tsc -p . && node scripts/gen-types.mjs`');
});
