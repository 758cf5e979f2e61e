// The agent of a single-host install, in the master's process: composed here, outside both
// the master (src/server) and the agent (src/agent), which know nothing of each other.
// The agent's modules are loaded only when it starts (not by `serve --no-agent`).
import type { FakeHost } from '../backends/fake/host.js';
import type { LocalAgentStarter } from '../server/serve.js';
import type { NetworkBackend } from '../backends/network-conf.js';

/**
 * The master's own host simulated by the fake driver, with `fakeNics` NICs; `onHost` gets the
 * fake host (tests change its NICs through it).
 */
export function simulatedLocalAgent(fakeNics = 4, onHost?: (h: FakeHost) => void): LocalAgentStarter {
  return async (client, host, log) => {
    const [{ runAgent }, { openHostSide }] = await Promise.all([import('../agent/index.js'), import('../backends/open.js')]);
    const { backend, guests } = await openHostSide({ hostUuid: host.uuid, fakeNics });
    onHost?.(backend as FakeHost);
    return runAgent({ client, hostRef: host.ref, backend, guests, log });
  };
}

export interface HostAgentOptions {
  /** network.conf's choice. */
  backend: NetworkBackend;
  /** OVSDB endpoint (Open vSwitch backend). */
  ovsdb?: string;
  /** The host's network namespace (a lab host). */
  netns?: string;
  /** Manage this machine's own NICs. */
  manageNics?: boolean;
  /** Where the agent keeps its copy of the host's last configuration (absent: none). */
  cacheDir?: string;
  /** Where it keeps the host's OVN key and certificate (absent: beside Open vSwitch's run files). */
  ovnPkiDir?: string;
}

/**
 * The host's real agent (Open vSwitch or the Linux bridge, in a lab namespace or on this
 * machine's NICs) in the `serve` process: a standalone host's, against its own server, and a
 * member's, against its master.
 */
export function hostAgent(o: HostAgentOptions): LocalAgentStarter {
  return async (client, host, log) => {
    const [{ runAgent, isDesired }, { openHostSide }, { FileHostCache }, { answer }] = await Promise.all([
      import('../agent/index.js'), import('../backends/open.js'), import('../agent/host-cache.js'), import('../agent/local-api.js')]);
    const { backend, guests, health } = await openHostSide({
      hostUuid: host.uuid, backend: o.backend, ovsdb: o.ovsdb, netns: o.netns, manageNics: o.manageNics,
      ovnSigner: async (csr) => String(await client.call('host.sign_ovn_certificate', host.ref, csr)),
      ovnPkiDir: o.ovnPkiDir,
    });
    // A copy saved under another ref (another pool's configuration of this host) is not realised.
    const cache = o.cacheDir !== undefined ? new FileHostCache(o.cacheDir, host.uuid, isDesired, log, host.ref) : undefined;
    const running = await runAgent({ client, hostRef: host.ref, backend, guests, log, cache, health });
    return {
      // A member's serve answers emergency mode and reset-networking on its socket through this.
      answerLocal: (method, params) => answer(running.local, method, params),
      async stop() {
        await running.stop();
        health?.close();
        await backend.close();
      },
    };
  };
}
