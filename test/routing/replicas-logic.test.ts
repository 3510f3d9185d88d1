/** The replica router's decisions, with fake members: choice, lag, tokens, the read path. */
import { describe, expect, it } from 'vitest';

import type { Pool } from '../../src/pg/index.js';
import { RoutingError } from '../../src/routing/index.js';
import { costOf, Ewma, pickTwo, type Choosable } from '../../src/routing/replicas-choice.js';
import {
  ConsistencyScopes,
  tokenOf,
  tokenSatisfied,
} from '../../src/routing/replicas-consistency.js';
import { judgeLag, probeDelay, type ReplicaSample } from '../../src/routing/replicas-lag.js';
import { formatLsn, parseLsn } from '../../src/routing/replicas-lsn.js';
import { Member } from '../../src/routing/replicas-member.js';
import { ReadPath, type ReadSettings } from '../../src/routing/replicas-reads.js';
import { choosePrimary } from '../../src/routing/replicas-roles.js';

const lsn = (text: string): bigint => parseLsn(text)!;

describe('LSNs', () => {
  it('compare as numbers, not as text', () => {
    expect(lsn('0/10') > lsn('0/9')).toBe(true);
    expect(lsn('1/0') > lsn('0/FFFFFFFF')).toBe(true);
    expect(formatLsn(lsn('16/B374D848'))).toBe('16/B374D848');
    expect(parseLsn('nope')).toBeUndefined();
    expect(parseLsn(null)).toBeUndefined();
  });
});

function candidate(load: number, latency: number): Choosable & { id: string } {
  return { id: `${load}/${latency}`, load: () => load, latencyMillis: () => latency };
}

describe('power of two choices', () => {
  it('takes the cheaper of two distinct candidates', () => {
    const busy = candidate(10, 1);
    const idle = candidate(0, 1);
    // Both draws land on index 0 first: the second index must skip to the other candidate.
    expect(pickTwo([busy, idle], () => 0)).toBe(idle);
    expect(pickTwo([idle, busy], () => 0)).toBe(idle);
  });

  it('weighs load by latency', () => {
    const slow = candidate(0, 50); // cost 50
    const loadedFast = candidate(4, 2); // cost 10
    expect(costOf(loadedFast)).toBeLessThan(costOf(slow));
    expect(pickTwo([slow, loadedFast], () => 0)).toBe(loadedFast);
  });

  it('handles zero and one candidates', () => {
    const only = candidate(3, 3);
    expect(pickTwo([], Math.random)).toBeUndefined();
    expect(pickTwo([only], Math.random)).toBe(only);
  });

  it('never compares a candidate with itself, whatever the random draws', () => {
    const cands = [candidate(1, 1), candidate(2, 1), candidate(3, 1)];
    const draws = [0.99, 0.99, 0.5, 0.0, 0.0, 0.99];
    for (let k = 0; k < draws.length; k += 2) {
      let n = 0;
      const picked = pickTwo(cands, () => draws[k + n++]!);
      expect(picked).toBeDefined();
    }
    // With three candidates the most loaded can never win a pairwise comparison.
    for (let a = 0; a < 10; a++) {
      for (let b = 0; b < 10; b++) {
        let n = 0;
        const values = [a / 10, b / 10];
        expect(pickTwo(cands, () => values[n++]!)).not.toBe(cands[2]);
      }
    }
  });

  it('smooths latency', () => {
    const ewma = new Ewma(0.5);
    ewma.add(10);
    expect(ewma.value).toBe(10);
    ewma.add(20);
    expect(ewma.value).toBe(15);
  });
});

const sample = (overrides: Partial<ReplicaSample> = {}): ReplicaSample => ({
  inRecovery: true,
  replayLsn: lsn('0/1000'),
  receiveLsn: lsn('0/1000'),
  replayAgeMillis: 60_000,
  ...overrides,
});

describe('lag decision', () => {
  const limits = { maxLagMillis: 1_000, maxLagBytes: 100 };

  it('counts an idle primary as no lag once replay has caught up', () => {
    const verdict = judgeLag(lsn('0/1000'), sample(), limits);
    expect(verdict).toEqual({ usable: true, reason: undefined, lagBytes: 0, lagMillis: 0 });
  });

  it('takes out a replica too many bytes behind', () => {
    const verdict = judgeLag(lsn('0/2000'), sample({ replayAgeMillis: 0 }), limits);
    expect(verdict.usable).toBe(false);
    expect(verdict.reason).toBe('lag-bytes');
    expect(verdict.lagBytes).toBe(0x1000);
  });

  it('takes out a replica whose last replayed transaction is too old, while behind', () => {
    const verdict = judgeLag(lsn('0/1010'), sample(), limits);
    expect(verdict).toMatchObject({ usable: false, reason: 'lag-millis', lagBytes: 16 });
  });

  it('takes out a server that is not in recovery', () => {
    expect(judgeLag(lsn('0/1000'), sample({ inRecovery: false }), limits).reason).toBe(
      'not-in-recovery',
    );
  });

  it('never counts a replica ahead of the sampled primary as behind', () => {
    expect(judgeLag(lsn('0/0FFF'), sample(), limits).lagBytes).toBe(0);
  });

  it('judges by the received position when replay is unknown, and not at all without limits', () => {
    const unknown = sample({ replayLsn: undefined, receiveLsn: lsn('0/0F00') });
    expect(judgeLag(lsn('0/1000'), unknown, limits).lagBytes).toBe(0x100);
    const none = { maxLagMillis: undefined, maxLagBytes: undefined };
    expect(judgeLag(lsn('9/0'), sample(), none).usable).toBe(true);
  });

  it('backs probes off exponentially, capped and jittered into [half, full)', () => {
    expect(probeDelay(1, 100, 1_000, () => 0)).toBe(50);
    expect(probeDelay(3, 100, 1_000, () => 0)).toBe(200);
    expect(probeDelay(10, 100, 1_000, () => 0.999)).toBeLessThan(1_000);
    expect(probeDelay(10, 100, 1_000, () => 0)).toBe(500);
  });
});

describe('read-your-writes tokens', () => {
  it('keeps the later of a hint and the scope', () => {
    expect(tokenOf('0/20', lsn('0/10'))).toBe(lsn('0/20'));
    expect(tokenOf(undefined, lsn('0/10'))).toBe(lsn('0/10'));
    expect(tokenOf('0/5', lsn('0/10'))).toBe(lsn('0/10'));
    expect(() => tokenOf('yesterday')).toThrow(RoutingError);
  });

  it('is satisfied only by a replay at or past it', () => {
    expect(tokenSatisfied(lsn('0/10'), lsn('0/10'))).toBe(true);
    expect(tokenSatisfied(lsn('0/F'), lsn('0/10'))).toBe(false);
    expect(tokenSatisfied(undefined, lsn('0/10'))).toBe(false);
    expect(tokenSatisfied(undefined, undefined)).toBe(true);
  });

  it('keeps one token per scope, across awaits, and none outside', async () => {
    const scopes = new ConsistencyScopes();
    scopes.record(lsn('0/99'));
    expect(scopes.token()).toBeUndefined();
    const seen = await Promise.all([
      scopes.run(async () => {
        scopes.record(lsn('0/10'));
        await Promise.resolve();
        scopes.record(lsn('0/8'));
        return scopes.tokenText();
      }),
      scopes.run(async () => {
        await Promise.resolve();
        return scopes.tokenText();
      }, '0/30'),
    ]);
    expect(seen).toEqual(['0/10', '0/30']);
    expect(scopes.active()).toBe(false);
  });
});

/** A pool whose `query` answers the replay position from `replay()`, or fails with `error`. */
function fakePool(replay: () => string | null = () => null): Pool {
  return {
    waitingCount: 0,
    totalCount: 0,
    idleCount: 0,
    query: async () => ({ rows: [{ lsn: replay() }] }),
  } as unknown as Pool;
}

function host(replicas: Member[], primary = new Member('r.primary', fakePool())) {
  const suspects: string[] = [];
  return {
    suspects,
    primaryMember: primary,
    host: {
      name: 'r',
      primary: () => primary,
      replicas: () => replicas,
      suspect: (member: Member) => {
        suspects.push(member.name);
        member.state = 'out';
      },
    },
  };
}

const settings = (overrides: Partial<ReadSettings> = {}): ReadSettings => ({
  fallback: 'primary',
  tokenWaitMillis: 0,
  random: () => 0,
  ...overrides,
});

function sqlError(code: string): Error {
  return Object.assign(new Error(code), { code, severity: 'FATAL' });
}

describe('read path', () => {
  it('falls back to the primary, or fails, when no replica is usable', async () => {
    const out = new Member('r.replica-0', fakePool());
    out.state = 'out';
    out.reason = 'lag-bytes';
    const { host: h, primaryMember } = host([out]);
    expect(await new ReadPath(h, settings()).target(undefined)).toBe(primaryMember);
    const failing = new ReadPath(h, settings({ fallback: 'fail' }));
    await expect(failing.target(undefined)).rejects.toMatchObject({
      code: 'ERR_ROUTING_NO_REPLICA',
      message: expect.stringContaining('r.replica-0: lag-bytes'),
    });
  });

  it('sends a token read to a replica known to be past it, without asking', async () => {
    const behind = new Member('r.replica-0', fakePool());
    const ahead = new Member('r.replica-1', fakePool());
    behind.replayLsn = lsn('0/10');
    ahead.replayLsn = lsn('0/30');
    const { host: h } = host([behind, ahead]);
    expect(await new ReadPath(h, settings()).target(lsn('0/20'))).toBe(ahead);
  });

  it('polls a replica until it has replayed the token', async () => {
    const answers = ['0/10', '0/18', '0/20'];
    let polls = 0;
    const replica = new Member(
      'r.replica-0',
      fakePool(() => answers[polls++]!),
    );
    const { host: h } = host([replica]);
    const path = new ReadPath(h, settings({ tokenWaitMillis: 60_000 }));
    expect(await path.target(lsn('0/20'))).toBe(replica);
    expect(polls).toBe(3);
    expect(replica.replayLsn).toBe(lsn('0/20'));
  });

  it('reads from the primary when the replica has not caught up in time', async () => {
    const replica = new Member(
      'r.replica-0',
      fakePool(() => '0/10'),
    );
    const { host: h, primaryMember } = host([replica]);
    // Even with fallback 'fail': the token is about correctness, and the primary has the write.
    const path = new ReadPath(h, settings({ tokenWaitMillis: 0, fallback: 'fail' }));
    expect(await path.target(lsn('0/20'))).toBe(primaryMember);
  });

  it('retries a read once elsewhere after a replica failure, and suspects the replica', async () => {
    const a = new Member('r.replica-0', fakePool());
    const b = new Member('r.replica-1', fakePool());
    const { host: h, suspects, primaryMember } = host([a, b]);
    const ran: string[] = [];
    const exec = async (pool: Pool): Promise<string> => {
      const name = [a, b, primaryMember].find((m) => m.pool === pool)!.name;
      ran.push(name);
      if (name === 'r.replica-0') throw sqlError('57P01');
      return name;
    };
    expect(await new ReadPath(h, settings()).run(undefined, exec, true)).toBe('r.replica-1');
    expect(ran).toEqual(['r.replica-0', 'r.replica-1']);
    expect(suspects).toEqual(['r.replica-0']);
  });

  it('with fallback fail and no other replica, the read fails with its own error', async () => {
    const a = new Member('r.replica-0', fakePool());
    const { host: h } = host([a]);
    const error = sqlError('57P03');
    const path = new ReadPath(h, settings({ fallback: 'fail' }));
    await expect(path.run(undefined, () => Promise.reject(error), true)).rejects.toBe(error);
  });

  it('runs a "read" the replica refused as a write (25006) on the primary', async () => {
    const a = new Member('r.replica-0', fakePool());
    const { host: h, primaryMember, suspects } = host([a]);
    const exec = async (pool: Pool): Promise<string> => {
      if (pool === a.pool)
        throw Object.assign(new Error('ro'), { code: '25006', severity: 'ERROR' });
      return 'primary';
    };
    expect(await new ReadPath(h, settings()).run(undefined, exec, true)).toBe('primary');
    expect(suspects).toEqual([]);
    expect(primaryMember.name).toBe('r.primary');
  });

  it('does not retry transactions, and passes other errors through', async () => {
    const a = new Member('r.replica-0', fakePool());
    const { host: h, suspects } = host([a]);
    const path = new ReadPath(h, settings());
    const lost = sqlError('57P01');
    await expect(path.run(undefined, () => Promise.reject(lost), false)).rejects.toBe(lost);
    expect(suspects).toEqual(['r.replica-0']);
    a.state = 'in';
    const syntax = Object.assign(new Error('syntax'), { code: '42601', severity: 'ERROR' });
    await expect(path.run(undefined, () => Promise.reject(syntax), true)).rejects.toBe(syntax);
    expect(suspects).toEqual(['r.replica-0']);
  });
});

describe('member state', () => {
  it('forgets the replay position of a member that failed (it may replay again from behind)', () => {
    const member = new Member('r.replica-0', fakePool());
    member.sawReplay(lsn('0/20'));
    member.sawReplay(lsn('0/10'));
    expect(member.replayLsn).toBe(lsn('0/20'));
    member.failed(1_000, 500);
    expect(member).toMatchObject({ state: 'out', reason: 'failing', failures: 1 });
    expect(member.replayLsn).toBeUndefined();
    expect(member.dueForCheck(1_499)).toBe(false);
    expect(member.dueForCheck(1_500)).toBe(true);
    member.sawReplay(lsn('0/8'));
    member.judged({ usable: true, reason: undefined, lagBytes: 0, lagMillis: 0 });
    expect(member.stats()).toMatchObject({ state: 'in', failures: 0, replayLsn: '0/8' });
  });
});

describe('role detection', () => {
  const m = (name: string): Member => new Member(name, fakePool());

  it('keeps the current primary while it still writes, else takes the only writer', () => {
    const [p, r0, r1] = [m('p'), m('r0'), m('r1')];
    expect(choosePrimary([p, r0], p)).toBe(p);
    expect(choosePrimary([r0], p)).toBe(r0);
    expect(choosePrimary([r0, r1], p)).toBeUndefined();
    expect(choosePrimary([], p)).toBeUndefined();
  });
});
