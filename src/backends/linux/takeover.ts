// Taking a NIC over (into a bridge or a bond) on a real host, for both drivers: a NIC the
// distribution's network configuration manages is refused (distro.ts), and everything of its
// owner (bridge, address, route) is left undone with it, since half of it would put the NIC's
// address on a second device.
import { claimMessage, distroClaims } from './distro.js';

/** NICs → why each refused one must not be taken over (absent: it may be). */
export type RefuseNics = (nics: string[]) => Promise<Map<string, string>>;

/** The machine's own NICs: refused when the distribution configures them, with how to hand them over. */
export const refuseDistroNics: RefuseNics = async (nics) =>
  new Map([...await distroClaims(nics)].map(([nic, c]) => [nic, claimMessage(c)]));

/**
 * The actions to run: those of owners taking over no refused NIC. `taking`: the NICs the actions
 * add to a bridge or bond, each with its owner. Returns the refused owners' errors too.
 */
export async function withoutRefusedNics<A>(actions: A[], taking: { nic: string; owner: string }[],
  refuse: RefuseNics | undefined, ownerOf: (a: A) => string): Promise<{ actions: A[]; errors: Record<string, string> }> {
  const errors: Record<string, string> = {};
  if (!refuse || taking.length === 0) return { actions, errors };
  const refused = await refuse([...new Set(taking.map((t) => t.nic))]);
  for (const t of taking) { const m = refused.get(t.nic); if (m) errors[t.owner] ??= m; }
  return { actions: actions.filter((a) => errors[ownerOf(a)] === undefined), errors };
}
