#!/usr/bin/env node
// Rewrites src/idl/types.gen.ts, the record and argument types derived from the IDL
// (src/idl/typegen.ts). Build first (`npx tsc -p .`), then run this and build again.
import { writeFileSync } from 'node:fs';

const { CLASSES } = await import('../dist/src/idl/index.js');
const { generateTypes } = await import('../dist/src/idl/typegen.js');
const out = new URL('../src/idl/types.gen.ts', import.meta.url);
writeFileSync(out, generateTypes(CLASSES));
console.log(`wrote ${out.pathname}`);
