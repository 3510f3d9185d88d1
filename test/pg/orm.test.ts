/**
 * Kysely and Drizzle take the pool where they take a pg.Pool, and run real queries and
 * transactions through it.
 */
import { eq, sql as dsql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { adminClient, createPool, tableName, until } from './helpers.js';

interface Person {
  id: number;
  name: string;
  born: Date | null;
}

let table = '';

beforeEach(async () => {
  table = tableName('orm');
  const admin = await adminClient();
  await admin.query(
    `CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL, born timestamp)`,
  );
});

afterEach(async () => {
  const admin = await adminClient();
  await admin.query(`DROP TABLE IF EXISTS ${table}`);
});

describe('Kysely', () => {
  it('runs queries and transactions through PostgresDialect({ pool })', async () => {
    const pool = createPool({ max: 2 });
    const db = new Kysely<Record<string, Person>>({ dialect: new PostgresDialect({ pool }) });

    await db.insertInto(table).values({ id: 1, name: 'Ada', born: null }).execute();
    await db.transaction().execute(async (trx) => {
      await trx.insertInto(table).values({ id: 2, name: 'Grace', born: null }).execute();
      await trx.updateTable(table).set({ name: 'Ada L.' }).where('id', '=', 1).execute();
    });
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto(table).values({ id: 3, name: 'Rolled back', born: null }).execute();
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const duplicate = db.insertInto(table).values({ id: 1, name: 'again', born: null }).execute();
    await expect(duplicate).rejects.toMatchObject({ code: '23505' }); // SQLSTATE survives

    const rows = await db.selectFrom(table).select(['id', 'name']).orderBy('id').execute();
    expect(rows).toEqual([
      { id: 1, name: 'Ada L.' },
      { id: 2, name: 'Grace' },
    ]);
    const { rows: raw } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(db);
    expect(raw).toEqual([{ n: 2 }]);
    await until(() => pool.idleCount === pool.totalCount); // every connection comes back

    await db.destroy(); // calls pool.end()
    expect(pool.ended).toBe(true);
  });
});

describe('Drizzle', () => {
  it('runs queries (rowMode array, custom types) and transactions through drizzle(pool)', async () => {
    const pool = createPool({ max: 2 });
    const people = pgTable(table, {
      id: integer('id').primaryKey(),
      name: text('name').notNull(),
      born: timestamp('born'),
    });
    const db = drizzle(pool);
    const born = new Date('1815-12-10T00:00:00.000Z');

    await db.insert(people).values({ id: 1, name: 'Ada', born });
    await db.transaction(async (tx) => {
      await tx.insert(people).values({ id: 2, name: 'Grace', born: null });
      await tx.update(people).set({ name: 'Ada L.' }).where(eq(people.id, 1));
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.insert(people).values({ id: 3, name: 'Rolled back', born: null });
        tx.rollback();
      }),
    ).rejects.toThrow(/rollback/i);

    const rows = await db.select().from(people).orderBy(people.id);
    // Drizzle's own timestamp parsing only works if its `types` reached pg.
    expect(rows).toEqual([
      { id: 1, name: 'Ada L.', born },
      { id: 2, name: 'Grace', born: null },
    ]);
    const counted = await db.execute<{ n: number }>(dsql`SELECT count(*)::int AS n FROM ${people}`);
    expect(counted.rows).toEqual([{ n: 2 }]);
    await until(() => pool.idleCount === pool.totalCount);
  });
});
