/**
 * No session state crosses tenants, or users of one tenant. A fast-check fuzzer plays users
 * who check out a tenant's connection, change its session (SET, set_config, SET ROLE and SET
 * SESSION AUTHORIZATION to another tenant's role, search_path, temporary tables, PREPARE and
 * protocol-level named statements, LISTEN, advisory locks, WITH HOLD cursors) and give it
 * back, cleanly or from a state that cannot be reset (inside a transaction, failed, killed).
 * The next user of that tenant (by connect() and by a pipelined query) and a user of another
 * tenant must see exactly a fresh session of their own tenant; a connection that could not be
 * reset must not come back.
 */
import fc from 'fast-check';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';

import { adminClient, backendPid, waitForBackendGone } from './helpers.js';
import {
  createTenantRoles,
  roleName,
  roleTenant,
  schemaName,
  tenantRouter,
} from './tenants-fixtures.js';

const kTenants = 6;

/** The session as a user sees it; named, so that each probe also checks pg's statement cache. */
const kProbe = {
  name: 'tn_probe',
  text: `SELECT current_user AS "user", session_user AS session, current_schema() AS schema,
    current_setting('search_path') AS path, current_setting('work_mem') AS work_mem,
    coalesce(current_setting('tn.marker', true), '') AS marker,
    (SELECT count(*)::int FROM pg_prepared_statements) AS prepared,
    (SELECT count(*)::int FROM pg_listening_channels()) AS listening,
    (SELECT count(*)::int FROM pg_locks
      WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks,
    (SELECT count(*)::int FROM pg_cursors) AS cursors,
    (SELECT count(*)::int FROM pg_class WHERE relnamespace = pg_my_temp_schema()) AS temp`,
};

type Mutation = (client: pg.PoolClient, tenant: number) => Promise<unknown>;
const sql =
  (text: string): Mutation =>
  (client) =>
    client.query(text);

const kMutations: Record<string, Mutation> = {
  workMem: sql('SET work_mem = 7777'),
  setConfig: sql("SELECT set_config('tn.marker', 'dirty', false)"),
  customSet: sql("SET tn.marker = 'dirty2'"),
  searchPath: sql('SET search_path TO public'),
  searchPathFn: sql("SELECT set_config('search_path', 'pg_catalog', false)"),
  otherRole: (client, tenant) => client.query(`SET ROLE ${roleName((tenant + 1) % kTenants)}`),
  otherAuth: (client, tenant) =>
    client.query(`SET SESSION AUTHORIZATION ${roleName((tenant + 2) % kTenants)}`),
  resetRole: sql('RESET ROLE'),
  tempTable: sql('CREATE TEMP TABLE IF NOT EXISTS fuzz_tmp (x int)'),
  prepare: sql('PREPARE fuzz_p AS SELECT 1'),
  named: (client) => client.query({ name: 'fuzz_named', text: 'SELECT 2 AS n' }),
  listen: sql('LISTEN fuzz_ch'),
  advisory: sql('SELECT pg_advisory_lock(4242)'),
  cursor: sql('DECLARE fuzz_c CURSOR WITH HOLD FOR SELECT 1'),
};

type Ending = 'release' | 'inTransaction' | 'failedTransaction' | 'killed' | 'releaseError';

interface Step {
  tenant: number;
  other: number;
  mutations: string[];
  ending: Ending;
}

const step: fc.Arbitrary<Step> = fc.record({
  tenant: fc.nat(kTenants - 1),
  other: fc.nat(kTenants - 1),
  mutations: fc.array(fc.constantFrom(...Object.keys(kMutations)), { maxLength: 8 }),
  ending: fc.constantFrom<Ending>(
    'release',
    'release',
    'release',
    'inTransaction',
    'failedTransaction',
    'killed',
    'releaseError',
  ),
});

describe('tenant isolation (fuzzed)', () => {
  beforeAll(() => createTenantRoles(kTenants), 120_000);

  it('hands every user a fresh session of its own tenant, whatever the last one did', async () => {
    const router = tenantRouter({
      budget: 4, // fewer slots than tenants: pools are evicted and reopened along the way
      perTenant: { max: 1 }, // the next user of a tenant gets the same connection, reset
      resolve: roleTenant,
      application_name: 'tn-fuzz',
    });
    const admin = await adminClient();
    const login = (await admin.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
    const fresh = (tenant: number): Record<string, unknown> => ({
      user: roleName(tenant),
      session: login,
      schema: schemaName(tenant),
      path: schemaName(tenant),
      work_mem: '4MB',
      marker: '',
      prepared: 1, // the probe itself
      listening: 0,
      locks: 0,
      cursors: 1, // the probe's own portal (Bind)
      temp: 0,
    });
    const probe = async (tenant: number, client?: pg.PoolClient): Promise<unknown> => {
      const query =
        client === undefined ? router.tenant(String(tenant)).query : client.query.bind(client);
      return (await query(kProbe)).rows[0];
    };

    const endUse = async (client: pg.PoolClient, ending: Ending, pid: number): Promise<void> => {
      if (ending === 'inTransaction') {
        await client.query('BEGIN');
        await client.query('SET LOCAL work_mem = 1111');
      } else if (ending === 'failedTransaction') {
        await client.query('BEGIN');
        await client.query('SELECT 1/0').catch(() => undefined);
      } else if (ending === 'killed') {
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        await waitForBackendGone(pid);
      }
      client.release(ending === 'releaseError' ? new Error('done with it') : undefined);
    };

    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 4 }), async (steps) => {
        for (const { tenant, other, mutations, ending } of steps) {
          const key = String(tenant);
          const client = await router.tenant(key).connect();
          client.on('error', () => undefined); // the 'killed' ending
          expect(await probe(tenant, client)).toEqual(fresh(tenant));
          const pid = await backendPid(client);
          for (const name of mutations)
            await kMutations[name]!(client, tenant).catch(() => undefined);
          await endUse(client, ending, pid);

          const next = await router.tenant(key).connect();
          try {
            expect(await probe(tenant, next)).toEqual(fresh(tenant));
            // Reset and reused after a clean release; destroyed after any other ending.
            if (ending === 'release') expect(await backendPid(next)).toBe(pid);
            else expect(await backendPid(next)).not.toBe(pid);
          } finally {
            next.release();
          }
          expect(await probe(tenant)).toEqual(fresh(tenant)); // pipelined pool.query
          expect(await probe(other)).toEqual(fresh(other));
        }
      }),
      { numRuns: 30, endOnFailure: true },
    );
    expect(router.stats().tenants.evicted).toBeGreaterThan(0);
  }, 120_000);
});
