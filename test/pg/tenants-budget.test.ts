/**
 * The budget holds under load: 50 tenants (roles and schemas), Zipf-distributed traffic from
 * 30 concurrent callers mixing pipelined queries, connect() and transactions, a budget of 20.
 * pg_stat_activity is sampled every 50 ms: the router's sessions (by application_name) never
 * exceed the budget, while pools are opened and evicted all along.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { adminClient } from './helpers.js';
import {
  createTenantRoles,
  roleName,
  roleTenant,
  tenantRouter,
  zipfSampler,
} from './tenants-fixtures.js';

const kTenants = 50;
const kBudget = 20;
const kCallers = 30;
const kOperations = 1_500;
const kApp = 'tn-budget';

describe('tenants under a budget', () => {
  beforeAll(() => createTenantRoles(kTenants), 120_000);

  it('never has more sessions than the budget under Zipf load over 50 tenants', async () => {
    const router = tenantRouter({
      budget: kBudget,
      perTenant: { max: 4 },
      resolve: roleTenant,
      application_name: kApp,
    });
    const admin = await adminClient();
    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await admin.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
          [kApp],
        );
        samples.push(rows[0]!.n);
        expect(router.budget!.used).toBeLessThanOrEqual(kBudget);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const pick = zipfSampler(kTenants, 1.1);
    let next = 0;
    const served = new Set<number>();
    const caller = async (): Promise<void> => {
      while (next < kOperations) {
        const n = next++;
        const tenant = pick(Math.random());
        const key = String(tenant);
        const probe = 'SELECT current_user AS u, pg_sleep(0.001)';
        let user: unknown;
        if (n % 10 < 7) user = (await router.query({ text: probe, tenant: key })).rows[0]!.u;
        else if (n % 10 < 9) {
          const client = await router.tenant(key).connect();
          try {
            user = (await client.query(probe)).rows[0]!.u;
          } finally {
            client.release();
          }
        } else {
          user = await router.withTenant(key, () =>
            router.transaction(async (tx) => (await tx.query(probe)).rows[0]!.u),
          );
        }
        expect(user).toBe(roleName(tenant));
        served.add(tenant);
      }
    };
    try {
      await Promise.all(Array.from({ length: kCallers }, caller));
    } finally {
      sampling = false;
      await sampler;
    }
    expect(samples.length).toBeGreaterThan(0);
    expect(Math.max(...samples)).toBeLessThanOrEqual(kBudget);
    expect(Math.max(...samples)).toBeGreaterThan(0);
    expect(served.size).toBeGreaterThan(kBudget / 4); // a tail beyond the hot tenants was served
    const counts = router.stats().tenants;
    expect(counts.evicted).toBeGreaterThan(0);
    expect(counts.created).toBeGreaterThan(counts.live);
  }, 120_000);
});
