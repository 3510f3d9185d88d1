/** The replica router's configuration: checks, member names and the default budget. */
import { describe, expect, it } from 'vitest';

import {
  ConnectionBudget,
  createReplicaRouter,
  RoutingError,
  type ReplicaRouterConfig,
} from '../../src/routing/index.js';

// Nothing listens on port 1: the monitor's checks fail at once, which these tests ignore.
const nowhere = (db: string): string => `postgresql://u:secret@127.0.0.1:1/${db}`;

describe('createReplicaRouter config', () => {
  it.each([
    [{}, 'needs a primary'],
    [{ primary: nowhere('p') }, 'at least one replica'],
    [{ primary: nowhere('p'), replicas: [] }, 'at least one replica'],
    [
      { primary: nowhere('p'), replicas: [nowhere('r')], reads: 'any' },
      "reads must be one of 'primary', 'replica'",
    ],
    [
      { primary: nowhere('p'), replicas: [nowhere('r')], fallback: 'retry' },
      'fallback must be one of',
    ],
    [
      { primary: nowhere('p'), replicas: [nowhere('r')], maxLagBytes: -1 },
      'maxLagBytes must be a number',
    ],
  ])('rejects %j', (config, message) => {
    const make = (): unknown => createReplicaRouter(config as unknown as ReplicaRouterConfig);
    expect(make).toThrow(RoutingError);
    expect(make).toThrow(message);
  });

  it('names members after the router and shares one budget, by default their max summed', async () => {
    const db = createReplicaRouter({
      name: 'shop',
      primary: { connectionString: nowhere('p'), max: 6 },
      replicas: [nowhere('r0'), nowhere('r1')],
      max: 3,
    });
    try {
      expect([...db.members().keys()]).toEqual([
        'shop.primary',
        'shop.replica-0',
        'shop.replica-1',
      ]);
      expect(db.budget?.max).toBe(12);
      expect(db.primary()).toBe(db.members().get('shop.primary'));
      const stats = db.stats();
      expect(stats.primary).toBe('shop.primary');
      expect(Object.keys(stats.replicas)).toEqual(['shop.replica-0', 'shop.replica-1']);
      expect(JSON.stringify(stats)).not.toContain('secret');
    } finally {
      await db.end();
    }
  });

  it('joins a budget it is given', async () => {
    const budget = new ConnectionBudget({ max: 5, name: 'fleet' });
    const db = createReplicaRouter({ primary: nowhere('p'), replicas: [nowhere('r')], budget });
    try {
      expect(db.budget).toBe(budget);
      expect(budget.stats().members.map((m) => m.name)).toEqual([
        'replicas.primary',
        'replicas.replica-0',
      ]);
    } finally {
      await db.end();
    }
  });

  it('fails reads with ERR_ROUTING_NO_REPLICA when no replica is usable and fallback is fail', async () => {
    const db = createReplicaRouter({
      primary: nowhere('p'),
      replicas: [nowhere('r')],
      fallback: 'fail',
    });
    try {
      await db.checkReplicas(); // the replica cannot be reached: out
      expect(db.stats().replicas['replicas.replica-0']).toMatchObject({
        state: 'out',
        reason: 'failing',
        failures: 1,
      });
      expect(() => db.replica()).toThrow("fallback is 'fail'");
      await expect(db.query({ text: 'SELECT 1', replica: true })).rejects.toMatchObject({
        code: 'ERR_ROUTING_NO_REPLICA',
      });
      const viaCallback = await new Promise<Error>((resolve) => {
        // The callback form takes hints too (RoutedQuery types only the promise forms).
        const query = db.query as (config: unknown, callback: (error: Error) => void) => void;
        query({ text: 'SELECT 1', replica: true }, (error) => resolve(error));
      });
      expect(viaCallback).toBeInstanceOf(RoutingError);
      await expect(db.query({ text: 'SELECT 1', after: 'not-a-token' })).rejects.toMatchObject({
        code: 'ERR_ROUTING_INVALID_TOKEN',
      });
    } finally {
      await db.end();
    }
  });
});
