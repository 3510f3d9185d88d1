/**
 * Tenants for the tenant-router tests, made once per file: N databases (`tn_db_<i>`), or N
 * roles with a schema each in the shared database (`tn_r_<i>` owning `tn_s_<i>`, which holds a
 * `marker` table naming its tenant, so that an unqualified `SELECT` shows whose search_path
 * a session has). Idempotent, so files can share them on one server.
 */
import { afterEach } from 'vitest';

import { createTenants, type TenantRouter, type TenantsConfig } from '../../src/routing/index.js';
import { adminClient, databaseUrl } from './helpers.js';

export { zipfSampler } from '../../bench/lib/zipf.js';

const routers: TenantRouter[] = [];

afterEach(async () => {
  for (const router of routers.splice(0)) if (!router.ending) await router.end();
});

/** A tenant router on the test server, ended after the test. */
export function tenantRouter(
  config: Omit<TenantsConfig, 'connectionString'> & { connectionString?: string },
): TenantRouter {
  const router = createTenants({
    connectionString: databaseUrl,
    endTimeoutMillis: 2_000,
    ...config,
  });
  routers.push(router);
  return router;
}

export const dbName = (i: number): string => `tn_db_${i}`;
export const roleName = (i: number): string => `tn_r_${i}`;
export const schemaName = (i: number): string => `tn_s_${i}`;

export async function createTenantDatabases(n: number): Promise<void> {
  const admin = await adminClient();
  const { rows } = await admin.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE 'tn\\_db\\_%'",
  );
  const existing = new Set(rows.map((row) => row.datname));
  for (let i = 0; i < n; i++) {
    if (!existing.has(dbName(i))) await admin.query(`CREATE DATABASE ${dbName(i)}`);
  }
}

export async function createTenantRoles(n: number): Promise<void> {
  const admin = await adminClient();
  const statements: string[] = [];
  for (let i = 0; i < n; i++) {
    const [role, schema] = [roleName(i), schemaName(i)];
    statements.push(
      `DO $$BEGIN CREATE ROLE ${role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$`,
      `CREATE SCHEMA IF NOT EXISTS ${schema} AUTHORIZATION ${role}`,
      `CREATE TABLE IF NOT EXISTS ${schema}.marker AS SELECT ${i} AS tenant`,
      `ALTER TABLE ${schema}.marker OWNER TO ${role}`,
      `GRANT TEMPORARY ON DATABASE ${await currentDatabase()} TO ${role}`,
    );
  }
  await admin.query(statements.join(';\n'));
}

async function currentDatabase(): Promise<string> {
  const admin = await adminClient();
  const { rows } = await admin.query<{ db: string }>('SELECT current_database() AS db');
  return `"${rows[0]!.db.replace(/"/g, '""')}"`;
}

/** Tenant keys `0` .. `n-1`, resolved as roles and schemas in the shared database. */
export function roleTenant(key: string): { role: string; searchPath: string[] } {
  return { role: roleName(Number(key)), searchPath: [schemaName(Number(key))] };
}

/** Tenant keys `0` .. `n-1`, resolved as databases. */
export function databaseTenant(key: string): { database: string } {
  return { database: dbName(Number(key)) };
}
