import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          // Everything that needs no database: test/core and any other non-pg test.
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [
            ...configDefaults.exclude,
            'test/pg/**',
            'test/dashboard/**/*.browser.test.ts',
            'test/package/**/*.pg.test.ts',
          ],
        },
      },
      {
        extends: true,
        test: {
          // Real PostgreSQL: one shared server started by the global setup, URL via
          // inject('databaseUrl'). Fault tests that stop/start a server start their own private
          // one instead (test/support/own-database.ts), because the shared one lives in the main
          // process and other files depend on it.
          name: 'pg',
          // test/package/*.pg.test.ts: the packed tarball, installed and queried against it.
          include: [
            'test/pg/**/*.test.ts',
            'test/dashboard/**/*.browser.test.ts',
            'test/package/**/*.pg.test.ts',
          ],
          globalSetup: ['test/support/global-setup.ts'],
          // One file at a time: pool tests open many connections, and the total must stay below
          // the server's max_connections (300 for the embedded one).
          fileParallelism: false,
        },
      },
    ],
  },
});
