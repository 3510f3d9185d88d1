#!/usr/bin/env node
/**
 * `lifeguard`: the command line. One subcommand so far, `advise` (issue 12); each lives in a
 * file of its own and is added here.
 */
import { createRequire } from 'node:module';

import { Command } from 'commander';

import { adviseCommand } from './advise.js';

// ../../package.json from both src/cli (tsx) and dist/cli (the installed bin).
const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

const program = new Command('lifeguard')
  .description('Lifeguard connection pool tools')
  .version(version)
  .addCommand(adviseCommand());

await program.parseAsync(process.argv);
