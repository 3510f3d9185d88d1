/**
 * A side connection that watches the server: its version and connection limits, and how many
 * sessions a given `application_name` holds in pg_stat_activity. Pools under test each get their
 * own application_name, so that what the server actually sees can be counted per pool, whatever
 * the pool itself reports (postgres.js, for one, has no connection counter).
 */
import pg from 'pg';

export const MONITOR_APPLICATION_NAME = 'lifeguard-monitor';

export interface ServerInfo {
  /** `server_version`, e.g. "18.4". */
  version: string;
  maxConnections: number;
  /** superuser_reserved_connections + reserved_connections (PostgreSQL 16+). */
  reservedConnections: number;
  /** Client sessions open when asked, this monitor included. */
  clientSessions: number;
}

export class ConnectionMonitor {
  readonly #client: pg.Client;
  #connected = false;

  constructor(url: string) {
    this.#client = new pg.Client({
      connectionString: url,
      application_name: MONITOR_APPLICATION_NAME,
    });
    // A broken monitor socket also fails its pending query, which is where we report it.
    this.#client.on('error', () => {});
  }

  async connect(): Promise<void> {
    await this.#client.connect();
    this.#connected = true;
  }

  /** For setup statements (schema, seed rows, checks). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.#client.query<R>(text, values);
  }

  async serverInfo(): Promise<ServerInfo> {
    const { rows } = await this.#client.query<{
      version: string;
      max_connections: number;
      reserved: number;
      sessions: number;
    }>(
      `SELECT current_setting('server_version') AS version,
              current_setting('max_connections')::int AS max_connections,
              current_setting('superuser_reserved_connections')::int
                + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved,
              (SELECT count(*)::int FROM pg_stat_activity
                WHERE backend_type = 'client backend') AS sessions`,
    );
    const row = rows[0]!;
    return {
      version: row.version,
      maxConnections: row.max_connections,
      reservedConnections: row.reserved,
      clientSessions: row.sessions,
    };
  }

  /** Sessions the server currently has for this application_name. */
  async sessions(applicationName: string): Promise<number> {
    const { rows } = await this.#client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Samples `sessions(applicationName)` every `intervalMillis` until `stop()`, which takes a
   * last sample and resolves to the highest count seen.
   */
  watch(applicationName: string, intervalMillis: number): SessionWatch {
    let peak = 0;
    let stopped = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const sample = async (): Promise<void> => {
      peak = Math.max(peak, await this.sessions(applicationName));
    };
    // Never rejects: a failed sample ends the loop and is rethrown by stop(), so nothing is
    // left unhandled if the caller fails before it gets there.
    const loop = (async () => {
      while (!stopped) {
        try {
          await sample();
        } catch (error) {
          failure =
            error instanceof Error
              ? error
              : new Error('sampling pg_stat_activity failed', { cause: error });
          return;
        }
        if (stopped) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
          // Unref'd: a forgotten watch must not keep the process alive.
          setTimeout(resolve, intervalMillis).unref();
        });
      }
    })();
    return {
      get peak() {
        return peak;
      },
      stop: async () => {
        stopped = true;
        wake?.();
        await loop;
        if (failure !== undefined) throw failure;
        await sample();
        return peak;
      },
    };
  }

  async end(): Promise<void> {
    if (!this.#connected) return;
    this.#connected = false;
    await this.#client.end();
  }
}

export interface SessionWatch {
  readonly peak: number;
  /** Stops sampling; resolves to the peak, including one final sample. */
  stop(): Promise<number>;
}
