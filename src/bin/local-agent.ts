// The agent of a single-host install, in the master's process: composed here, outside both
// the master (src/server) and the agent (src/agent), which know nothing of each other.
import { runAgent } from '../agent/index.js';
import type { FakeHost } from '../backends/fake/host.js';
import { openHostSide } from '../backends/open.js';
import type { LocalAgentStarter } from '../server/serve.js';

/**
 * The master's own host simulated by the fake driver, with `fakeNics` NICs; `onHost` gets the
 * fake host (tests change its NICs through it).
 */
export function simulatedLocalAgent(fakeNics = 4, onHost?: (h: FakeHost) => void): LocalAgentStarter {
  return async (client, host, log) => {
    const { backend, guests } = await openHostSide({ hostUuid: host.uuid, fakeNics });
    onHost?.(backend as FakeHost);
    return runAgent({ client, hostRef: host.ref, backend, guests, log });
  };
}
