/**
 * Which member is the primary, asked of the servers themselves (`pg_is_in_recovery()`): after
 * a failover, writes to the old primary (now a standby, or gone) fail, and the member that
 * left recovery must take them (pgdog#927, #1255: 25006 after a failover).
 *
 * No split-brain protection beyond this: if several members claim to be primary, the current
 * one keeps the role when it is among them, and otherwise nothing changes (writes keep failing
 * rather than go to a server picked at random).
 */
import type { Member } from './replicas-member.js';
import { withTimeout } from './replicas-timeout.js';

/** The member to treat as the primary, or undefined when the answers do not settle it. */
export async function detectPrimary(
  members: readonly Member[],
  current: Member,
  timeoutMillis: number,
): Promise<Member | undefined> {
  const answers = await Promise.all(
    members.map(async (member) => {
      try {
        const { rows } = await withTimeout(
          member.pool.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery'),
          timeoutMillis,
          'role check',
        );
        return rows[0]?.recovery === false;
      } catch {
        return false; // unreachable: not a primary we can use
      }
    }),
  );
  const writers = members.filter((_, i) => answers[i]);
  return choosePrimary(writers, current);
}

/** The rule, apart from the queries: current if it still writes, else the only writer. */
export function choosePrimary(writers: readonly Member[], current: Member): Member | undefined {
  if (writers.includes(current)) return current;
  return writers.length === 1 ? writers[0] : undefined;
}
