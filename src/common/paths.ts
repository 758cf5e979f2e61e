// Where xcpnet keeps things. A checkout keeps everything in ./var; the installed services
// (xcpnet install-services) use the FHS places, given to them in their environment:
// XCPNET_STATE_DIR=/var/lib/xcpnet (database, the agent's copy of its host configuration),
// XCPNET_RUN_DIR=/run/xcpnet (the API's unix socket), XCPNET_CONF_DIR=/etc/xcpnet (settings).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const FHS = { state: '/var/lib/xcpnet', run: '/run/xcpnet', conf: '/etc/xcpnet' } as const;

export const SOCKET_NAME = 'xapi.sock';

/** The state directory: $XCPNET_STATE_DIR, else ./var. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.XCPNET_STATE_DIR || 'var');
}

/** Where a master puts its unix socket: $XCPNET_RUN_DIR, else its state directory. */
export function socketDir(state: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.XCPNET_RUN_DIR ? resolve(env.XCPNET_RUN_DIR) : state;
}

/**
 * The local master's socket for a client (xe, xcpnet bridges): the one of $XCPNET_RUN_DIR or
 * $XCPNET_STATE_DIR when set; else ./var's when a master of this checkout runs; else the
 * installed service's in /run/xcpnet when there is one; else ./var's (named in the error).
 */
export function localSocket(env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): string {
  if (env.XCPNET_RUN_DIR) return join(resolve(env.XCPNET_RUN_DIR), SOCKET_NAME);
  if (env.XCPNET_STATE_DIR) return join(resolve(env.XCPNET_STATE_DIR), SOCKET_NAME);
  const checkout = join(resolve('var'), SOCKET_NAME);
  if (exists(checkout)) return checkout;
  const installed = join(FHS.run, SOCKET_NAME);
  return exists(installed) ? installed : checkout;
}

/**
 * The host's network.conf (its backend, as XCP's /etc/xensource/network.conf): in $XCPNET_CONF_DIR
 * when set (the installed agent), else in $XCPNET_STATE_DIR when set, else the installed
 * /etc/xcpnet/network.conf when xcpnet is installed here (its agent.conf exists), else ./var's.
 */
export function networkConfPath(env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): string {
  if (env.XCPNET_CONF_DIR) return join(resolve(env.XCPNET_CONF_DIR), 'network.conf');
  if (env.XCPNET_STATE_DIR) return join(resolve(env.XCPNET_STATE_DIR), 'network.conf');
  if (exists(join(FHS.conf, 'agent.conf'))) return join(FHS.conf, 'network.conf');
  return join(resolve('var'), 'network.conf');
}

export const HOTPLUG_SOCKET_NAME = 'vif-hotplug.sock';

/**
 * The local agent's hotplug socket for `xcpnet vif-hotplug` (the agent makes it in its own
 * directory, <state-dir>/agent): $XCPNET_STATE_DIR's when set; else the installed agent's under
 * /var/lib/xcpnet when there is one; else ./var's. A hypervisor runs its scripts with an
 * environment of its own, so the installed place is found without one.
 */
export function hotplugSocket(env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): string {
  if (env.XCPNET_STATE_DIR) return join(resolve(env.XCPNET_STATE_DIR), 'agent', HOTPLUG_SOCKET_NAME);
  const installed = join(FHS.state, 'agent', HOTPLUG_SOCKET_NAME);
  return exists(installed) ? installed : join(resolve('var'), 'agent', HOTPLUG_SOCKET_NAME);
}
