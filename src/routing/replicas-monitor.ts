/**
 * The lag monitor: one unref'd timer per router. Each round asks the primary for its WAL
 * position and each replica how far it has received and replayed, then takes replicas out
 * (failing, not in recovery, lagging beyond the limits) or back in. Failing replicas are
 * probed again after a jittered backoff; lagging ones every round, since a lag ban should end
 * as soon as the replica has caught up. Rounds never overlap: the next is scheduled when one
 * ends.
 */
import { judgeLag, probeDelay, type LagLimits, type ReplicaSample } from './replicas-lag.js';
import { parseLsn } from './replicas-lsn.js';
import type { Member } from './replicas-member.js';
import { withTimeout } from './replicas-timeout.js';

/** What the monitor needs of its router. */
export interface MonitorHost {
  primary(): Member;
  replicas(): readonly Member[];
  /** Asks every member for its role; resolves once the router has acted on the answers. */
  redetectRoles(): Promise<unknown>;
}

export interface MonitorSettings {
  readonly intervalMillis: number;
  readonly limits: LagLimits;
  readonly random: () => number;
}

const kPrimaryCheck =
  'SELECT pg_is_in_recovery() AS recovery, ' +
  'CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS lsn';

const kReplicaCheck =
  'SELECT pg_is_in_recovery() AS recovery, pg_last_wal_replay_lsn()::text AS replay, ' +
  'pg_last_wal_receive_lsn()::text AS receive, ' +
  'extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 * 1000 AS age';

interface ReplicaRow {
  recovery: boolean;
  replay: string | null;
  receive: string | null;
  age: number | null;
}

export class LagMonitor {
  readonly #host: MonitorHost;
  readonly #settings: MonitorSettings;
  readonly #timeoutMillis: number;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stopped = false;
  readonly #unanswered = new Set<Member>();
  /** The primary's last reported position: still the best estimate while it is down. */
  #primaryLsn: bigint | undefined;

  constructor(host: MonitorHost, settings: MonitorSettings) {
    this.#host = host;
    this.#settings = settings;
    this.#timeoutMillis = Math.max(1_000, settings.intervalMillis);
  }

  get primaryLsn(): bigint | undefined {
    return this.#primaryLsn;
  }

  /** The first round runs at once, so that lag is known before the first interval. */
  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
  }

  /** One round now (tests and role changes call it; it joins a round already running). */
  check(): Promise<void> {
    this.#round ??= this.#runRound().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.check().finally(() => this.#schedule(this.#settings.intervalMillis));
    }, delay);
    this.#timer.unref();
  }

  async #runRound(): Promise<void> {
    const now = performance.now();
    const due = this.#host.replicas().filter((member) => member.dueForCheck(now));
    const [primary, ...samples] = await Promise.all([
      this.#checkPrimary(this.#host.primary()),
      ...due.map((member) => this.#sample(member)),
    ]);
    let promoted = false;
    due.forEach((member, i) => {
      const sample = samples[i];
      if (sample === undefined) {
        member.failed(now, this.#backoff(member.failures + 1));
        return;
      }
      member.sawReplay(sample.replayLsn);
      member.judged(judgeLag(this.#primaryLsn, sample, this.#settings.limits));
      if (!sample.inRecovery) promoted = true;
    });
    // A primary that is down or in recovery, or a replica that left recovery: roles changed.
    if (this.#stopped) return;
    if (primary === 'recovery' || (primary === 'failed' && promoted)) {
      await this.#host.redetectRoles();
    }
  }

  async #checkPrimary(member: Member): Promise<'ok' | 'recovery' | 'failed'> {
    try {
      const { rows } = await withTimeout(
        member.pool.query<{ recovery: boolean; lsn: string | null }>(kPrimaryCheck),
        this.#timeoutMillis,
        'primary check',
      );
      const row = rows[0];
      if (row === undefined || row.recovery) return 'recovery';
      this.#primaryLsn = parseLsn(row.lsn) ?? this.#primaryLsn;
      return 'ok';
    } catch {
      return 'failed';
    }
  }

  async #sample(member: Member): Promise<ReplicaSample | undefined> {
    // A check that outlived its timeout still holds a place in the pool's queue: do not pile
    // another on a hung server; count the round as failed instead.
    if (this.#unanswered.has(member)) return undefined;
    const query = member.pool.query<ReplicaRow>(kReplicaCheck);
    this.#unanswered.add(member);
    void query.then(
      () => this.#unanswered.delete(member),
      () => this.#unanswered.delete(member),
    );
    try {
      const { rows } = await withTimeout(query, this.#timeoutMillis, 'replica check');
      const row = rows[0]!;
      return {
        inRecovery: row.recovery,
        replayLsn: parseLsn(row.replay),
        receiveLsn: parseLsn(row.receive),
        replayAgeMillis: row.age ?? undefined,
      };
    } catch {
      return undefined;
    }
  }

  /** The wait before probing a member after its `failures`-th failure in a row. */
  #backoff(failures: number): number {
    const base = this.#settings.intervalMillis;
    return probeDelay(failures, base, base * 16, this.#settings.random);
  }

  /** For reads that failed on a replica: out, and probed again after the backoff. */
  suspect(member: Member): void {
    member.failed(performance.now(), this.#backoff(member.failures + 1));
  }
}
