/**
 * `lifeguard advise`: sizing advice for a server, as text or `--json`. Any failure (a bad URL,
 * a server that is down or never answers) is one line on stderr and exit code 1, within
 * `--timeout`; the URL's password never appears in the output.
 */
import { Command, InvalidArgumentError } from 'commander';

import { AdviseError, advise, formatAdvice } from '../routing/index.js';

interface AdviseFlags {
  url?: string;
  instances: number;
  cores?: number;
  spindles?: number;
  timeout: number;
  json?: boolean;
}

export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
}

const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };

export function adviseCommand(io: CliIo = processIo): Command {
  return new Command('advise')
    .description('Advise on pool sizes from the server: limits, sessions and CPU baseline')
    .option('--url <url>', 'PostgreSQL URL (default: $DATABASE_URL)')
    .option('--instances <n>', 'application instances sharing the server', positive, 1)
    .option('--cores <n>', "the server's CPU cores, for HikariCP's cores * 2 + spindles", positive)
    .option('--spindles <n>', 'effective spindles (default 1)', nonNegative)
    .option('--timeout <ms>', 'bound on connecting and on each query', positive, 5_000)
    .option('--json', 'print the report as JSON')
    .action(async (flags: AdviseFlags) => {
      process.exitCode = await runAdvise(flags, io);
    });
}

/** Runs the advice and prints it; returns the exit code. */
export async function runAdvise(flags: AdviseFlags, io: CliIo): Promise<number> {
  const url = flags.url ?? io.env['DATABASE_URL'];
  if (url === undefined || url === '') {
    io.stderr.write('lifeguard advise: no --url given and DATABASE_URL is not set\n');
    return 1;
  }
  try {
    const report = await advise(url, {
      appInstances: flags.instances,
      connectTimeoutMillis: flags.timeout,
      ...(flags.cores === undefined ? {} : { serverCores: flags.cores }),
      ...(flags.spindles === undefined ? {} : { spindles: flags.spindles }),
    });
    io.stdout.write(
      flags.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatAdvice(report),
    );
    return 0;
  } catch (error) {
    // AdviseError messages are already free of credentials; anything else is a bug of ours,
    // reported by its class alone rather than risk echoing what it was given.
    const message =
      error instanceof AdviseError
        ? error.message
        : `unexpected ${(error as Error)?.name ?? 'error'}`;
    io.stderr.write(`lifeguard advise: ${message.replace(/\s+/g, ' ')}\n`);
    return 1;
  }
}

function positive(value: string): number {
  return integer(value, 1);
}

function nonNegative(value: string): number {
  return integer(value, 0);
}

function integer(value: string, low: number): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || parsed < low) {
    throw new InvalidArgumentError(`expected an integer >= ${low}`);
  }
  return parsed;
}
