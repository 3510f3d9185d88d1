/**
 * Suites that need something a fresh machine with only Node.js and npm lacks: Chromium for the
 * dashboard's browser test, PgBouncer for test/pg/pgbouncer.test.ts. Without it such a suite is
 * skipped, with the reason and the install command in its title. LIFEGUARD_REQUIRE_EXTRAS=1
 * (set by .ci/run, which installs them) turns that skip into a failing test with the same reason,
 * so that CI cannot pass by silently skipping them.
 */
import { describe, it } from 'vitest';

export const extrasRequired = process.env['LIFEGUARD_REQUIRE_EXTRAS'] === '1';

/** `describe(title, body)`, unless `missing` says what is missing (see the module comment). */
export function describeWithExtra(
  title: string,
  missing: string | undefined,
  body: () => void,
): void {
  if (missing === undefined) {
    describe(title, body);
  } else if (extrasRequired) {
    describe(title, () => {
      it(`fails: ${missing} (LIFEGUARD_REQUIRE_EXTRAS=1 requires it)`, () => {
        throw new Error(`${missing}; LIFEGUARD_REQUIRE_EXTRAS=1 requires it`);
      });
    });
  } else {
    const skipped = `${title} (skipped: ${missing}; LIFEGUARD_REQUIRE_EXTRAS=1 fails instead)`;
    // The default reporter shows no titles of skipped tests: say it in the run's output too.
    console.warn(`[skipped] ${skipped}`);
    describe.skip(skipped, body);
  }
}
