/**
 * The SQL that puts a connection in its tenant's session and brings it back there after each
 * user: identifiers quoted, never concatenated as given.
 */
import { RoutingError } from './errors.js';
import type { TenantSettings } from './tenants-types.js';

/**
 * `DISCARD ALL`, spelled out as its documented equivalent, because PostgreSQL refuses
 * `DISCARD ALL` inside the implicit transaction of a multi-statement query, and the reset and
 * the tenant's SETs must go in one round trip. `SET SESSION AUTHORIZATION DEFAULT` is what
 * undoes `SET ROLE` (`RESET ALL` skips `role`); `pg_advisory_unlock_all()` drops session locks.
 */
const kDiscardAll = [
  'CLOSE ALL',
  'SET SESSION AUTHORIZATION DEFAULT',
  'RESET ALL',
  'DEALLOCATE ALL',
  'UNLISTEN *',
  'SELECT pg_advisory_unlock_all()',
  'DISCARD PLANS',
  'DISCARD TEMP',
  'DISCARD SEQUENCES',
].join('; ');

/** A PostgreSQL identifier, double-quoted (a `"` doubled): safe for any name. */
export function quoteIdentifier(name: string, what: string): string {
  if (typeof name !== 'string' || name === '' || name.includes('\0')) {
    throw new RoutingError(
      'ERR_ROUTING_INVALID_CONFIG',
      `A tenant's ${what} must be a non-empty string without NUL characters`,
    );
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/** The tenant's own SETs (role, then search_path), or undefined when it has none. */
export function tenantSetupSql(settings: TenantSettings): string | undefined {
  const statements: string[] = [];
  if (settings.role !== undefined) {
    statements.push(`SET ROLE ${quoteIdentifier(settings.role, 'role')}`);
  }
  const path = settings.searchPath;
  if (path !== undefined) {
    const schemas = typeof path === 'string' ? [path] : [...path];
    if (schemas.length === 0) statements.push("SET search_path TO ''");
    else {
      const quoted = schemas.map((schema) => quoteIdentifier(schema, 'searchPath entry'));
      statements.push(`SET search_path TO ${quoted.join(', ')}`);
    }
  }
  return statements.length === 0 ? undefined : statements.join('; ');
}

/** What runs on each release: a fresh session, then the tenant's SETs again, one round trip. */
export function tenantResetSql(setup: string | undefined): string {
  return setup === undefined ? kDiscardAll : `${kDiscardAll}; ${setup}`;
}
