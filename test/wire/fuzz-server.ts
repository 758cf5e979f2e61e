// A real master (rules loaded, temporary state directory, production listener defaults) in a
// process of its own, for the wire fuzz test: its memory is measured alone, and a stall in it
// shows as latency in the test process. Prints {"port":…,"pid":…} once serving; stops when its
// stdin closes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RULES } from '../../src/server/impl/index.js';
import { startMaster } from '../../src/server/serve.js';
import { ROOT_PASSWORD } from '../support/master.js';
import { simulatedLocalAgent } from '../../src/bin/local-agent.js';

const stateDir = mkdtempSync(join(tmpdir(), 'xcpnet-fuzz-'));
const master = await startMaster({
  stateDir, listen: { host: '127.0.0.1', port: 0 }, http: 'loopback', rootPassword: ROOT_PASSWORD, impls: RULES, localAgent: simulatedLocalAgent(2), log: () => {},
});
process.stdout.write(`${JSON.stringify({ port: master.listener.tcpPort, pid: process.pid })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void master.close().finally(() => {
    rmSync(stateDir, { recursive: true, force: true });
    process.exit(0);
  });
});
