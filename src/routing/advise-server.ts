/**
 * Reads what the advisor needs from the server: its connection limits from `pg_settings` and
 * the client backends of `pg_stat_activity`, grouped by application and state. Every value
 * comes from the server itself (never from the caller's config), so nothing secret is read.
 */
import type { ActivityRow, ServerLimits, ServerSnapshot } from './advise-types.js';

/** What both a lifeguard/pg Pool and a pg.Client offer. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

const kSettingsSql = `SELECT name, setting FROM pg_settings WHERE name IN (
  'max_connections', 'superuser_reserved_connections', 'reserved_connections',
  'server_version', 'server_version_num')`;

const kEndpointSql = `SELECT current_user AS "user", current_database() AS database,
  host(inet_server_addr()) AS addr, inet_server_port() AS port`;

/**
 * `$1`: whether to count the advisor's own session. With a Pool it is one of the pool's
 * connections (shown as idle, the state it would be in but for us); with a URL it is ours
 * alone and goes away with the advice.
 */
function activitySql(versionNum: number): string {
  // backend_type arrived in PostgreSQL 10; before it, the view held client backends only.
  const clients = versionNum >= 100_000 ? `backend_type = 'client backend'` : 'true';
  return `SELECT coalesce(application_name, '') AS app,
    CASE WHEN pid = pg_backend_pid() THEN 'idle' ELSE state END AS state,
    count(*)::int AS count,
    (extract(epoch FROM max(now() - state_change)
      FILTER (WHERE state LIKE 'idle in transaction%')) * 1000)::float8 AS oldest_ms
  FROM pg_stat_activity
  WHERE ${clients} AND ($1::boolean OR pid <> pg_backend_pid())
  GROUP BY 1, 2`;
}

export async function readServer(db: Queryable, includeSelf: boolean): Promise<ServerSnapshot> {
  const settings = await db.query(kSettingsSql);
  const limits = limitsOf(settings.rows as { name: string; setting: string }[]);
  const endpoint = await db.query(kEndpointSql);
  const where = endpoint.rows[0] as {
    user: string;
    database: string;
    addr: string | null;
    port: number | null;
  };
  const activity = await db.query(activitySql(limits.versionNum), [includeSelf]);
  return {
    limits,
    activity: (
      activity.rows as {
        app: string;
        state: string | null;
        count: number;
        oldest_ms: number | null;
      }[]
    ).map((row): ActivityRow => ({
      applicationName: row.app,
      state: row.state,
      count: row.count,
      oldestStateMillis: row.oldest_ms === null ? null : Math.round(row.oldest_ms),
    })),
    endpoint: `${where.user}@${where.addr ?? 'unix-socket'}:${where.port ?? ''}/${where.database}`,
    local: isLocalAddress(where.addr),
  };
}

export function limitsOf(rows: readonly { name: string; setting: string }[]): ServerLimits {
  const settings = new Map(rows.map((row) => [row.name, row.setting]));
  const number = (name: string): number | null => {
    const value = settings.get(name);
    return value === undefined ? null : Number(value);
  };
  const maxConnections = number('max_connections') ?? 100;
  const superuserReservedConnections = number('superuser_reserved_connections') ?? 0;
  // PostgreSQL 16 added reserved_connections (for pg_use_reserved_connections); older servers
  // have no such row, which is not the same as 0 reserved.
  const reservedConnections = number('reserved_connections');
  return {
    version: settings.get('server_version') ?? 'unknown',
    versionNum: number('server_version_num') ?? 0,
    maxConnections,
    superuserReservedConnections,
    reservedConnections,
    available: Math.max(
      0,
      maxConnections - superuserReservedConnections - (reservedConnections ?? 0),
    ),
  };
}

/** A Unix socket (no address) or loopback: the server runs on this machine, or looks as if it did. */
export function isLocalAddress(addr: string | null): boolean {
  if (addr === null) return true;
  const plain = addr.startsWith('::ffff:') ? addr.slice('::ffff:'.length) : addr;
  return plain === '::1' || /^127\./.test(plain);
}
