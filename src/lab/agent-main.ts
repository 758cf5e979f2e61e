// Interim host agent entry for the lab, used only while `xcpnet agent` is not wired in the
// CLI: the same library calls (openHostSide + runAgent) with the same flags.
// Credentials come from XE_USER / XE_PASSWORD in the environment, never from argv.
import { parseArgs } from 'node:util';
import { XapiClient } from '../client/index.js';
import { openHostSide, runAgent } from '../agent/index.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    master: { type: 'string' }, host: { type: 'string' }, ovsdb: { type: 'string' }, netns: { type: 'string' },
  } });
  if (!values.master || !values.host) throw new Error('usage: agent-main --master unix:SOCK --host UUID [--ovsdb unix:PATH] [--netns NS]');
  const client = await XapiClient.connect({
    target: values.master, user: process.env.XE_USER ?? 'root', password: process.env.XE_PASSWORD ?? '', originator: 'xcpnet-agent',
  });
  const { backend, guests } = await openHostSide({ hostUuid: values.host, ovsdb: values.ovsdb, netns: values.netns, datapath: 'netdev' });
  const log = (m: string): void => { process.stdout.write(`${new Date().toISOString()} ${m}\n`); };
  const agent = await runAgent({ client, hostUuid: values.host, backend, guests, log });
  log(`agent for host ${values.host} running (netns ${values.netns ?? '-'})`);
  const stop = async (): Promise<void> => { await agent.stop(); process.exit(0); };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((e: unknown) => {
  process.stderr.write(`agent: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
