// The checked-in man pages are what the help sources make now: a help text changed without
// regenerating them (node dist/src/bin/man.js docs/man) fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.js';
import { xcpnetManPage, xeManPage } from '../../src/bin/man.js';
import { XCPNET_COMMANDS } from '../../src/bin/help.js';

test('docs/man/xcpnet.1 and docs/man/xe.1 are fresh', async () => {
  assert.equal(readFileSync(join(ROOT, 'docs', 'man', 'xcpnet.1'), 'utf8'), xcpnetManPage(), 'xcpnet.1 is stale: node dist/src/bin/man.js docs/man');
  assert.equal(readFileSync(join(ROOT, 'docs', 'man', 'xe.1'), 'utf8'), await xeManPage(), 'xe.1 is stale: node dist/src/bin/man.js docs/man');
});

test('the pages hold every command', async () => {
  const page = xcpnetManPage();
  for (const c of XCPNET_COMMANDS) assert.ok(page.includes(`.B xcpnet ${c.name.replace(/-/g, '\\-')}`), c.name);
  assert.match(await xeManPage(), /^\.B vif\\-plug$/m);
});
