// Readiness for systemd (Type=notify). Node has no unix datagram socket, so the message to
// $NOTIFY_SOCKET is sent by systemd's own `systemd-notify` (Debian's systemd package), run with
// an argument vector, never a shell. It is a child process: the units say NotifyAccess=all. Since
// systemd 246 it waits until the manager has read the message, so its exit cannot race it.
export type Runner = (cmd: string, args: string[]) => Promise<unknown>;

// node:child_process is loaded only under systemd: a start elsewhere does not pay for it.
const run: Runner = async (cmd, args) => {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
};

/**
 * Tells systemd the service is ready, with a status line; does nothing outside systemd (no
 * $NOTIFY_SOCKET). Resolves with whether it told anyone; a failure is the caller's to log.
 */
export async function notifyReady(status: string, opts: { env?: NodeJS.ProcessEnv; run?: Runner } = {}): Promise<boolean> {
  const env = opts.env ?? process.env;
  if (!env.NOTIFY_SOCKET) return false;
  await (opts.run ?? run)('systemd-notify', ['--ready', `--status=${status.replace(/[\r\n]+/g, ' ').slice(0, 200)}`]);
  return true;
}

/** Under systemd, output goes to the journal, which stamps every line itself. */
export const underJournal = (env: NodeJS.ProcessEnv = process.env): boolean => !!env.JOURNAL_STREAM;
