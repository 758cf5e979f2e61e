#!/usr/bin/env node
// xe: the XCP command line, as a XenAPI client of xcpnet (see src/cli/main.ts).
import { main } from '../cli/main.js';

const code = await main(process.argv.slice(2), {
  env: process.env,
  stdout: (t) => { if (t) process.stdout.write(t); },
  stderr: (t) => { if (t) process.stderr.write(t); },
});
// Exit at once: nothing else is pending once main has returned (the client is closed).
process.exitCode = code;
