/**
 * The harness's own mechanics, without a database: how values become plain, how a deliberate
 * difference is applied (and refused when it no longer matches pg.Pool's log), and that each
 * one links to a row of docs/compat.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import { describe, expect, it } from 'vitest';

import { expectedLifeguardLog } from './deliberate.js';
import { ClientLabels } from './labels.js';
import { event, step } from './observation.js';
import { plain } from './plain.js';

describe('plain()', () => {
  it('labels clients in order of first appearance', () => {
    const labels = new ClientLabels();
    const a = new pg.Client();
    const b = new pg.Client();
    expect(plain([a, b, a], labels)).toEqual(['c1', 'c2', 'c1']);
  });

  it('reduces errors to class, code and message, and drops undefined properties', () => {
    const error = Object.assign(new TypeError('bad'), { code: 'E1', detail: 'x' });
    expect(plain({ err: error, result: undefined }, new ClientLabels())).toStrictEqual({
      err: { error: 'TypeError', code: 'E1', message: 'bad' },
    });
  });

  it('tags functions and objects that are not plain data', () => {
    expect(plain([() => 1, new Map()], new ClientLabels())).toEqual(['[function]', '[Map]']);
  });
});

describe('expectedLifeguardLog()', () => {
  const pgPoolLog = [event('connect', 'c1'), step('counts', { total: 0 }), step('done')];

  it("replaces the declared slice of pg.Pool's log and keeps the rest", () => {
    const expected = expectedLifeguardLog(pgPoolLog, {
      reason: 'test',
      differences: [
        { pgPool: [step('counts', { total: 0 })], lifeguard: [step('counts', { total: 1 })] },
      ],
    });
    expect(expected).toEqual([event('connect', 'c1'), step('counts', { total: 1 }), step('done')]);
  });

  it("fails when pg.Pool's log no longer shows the declared slice", () => {
    expect(() =>
      expectedLifeguardLog(pgPoolLog, {
        reason: 'test',
        differences: [{ pgPool: [step('counts', { total: 5 })], lifeguard: [] }],
      }),
    ).toThrow(/no longer matches/);
  });
});

describe('deliberate differences', () => {
  it('link to anchors that exist in docs/compat.md', () => {
    const here = fileURLToPath(new URL('.', import.meta.url));
    const compat = readFileSync(join(here, '../../../docs/compat.md'), 'utf8');
    const scenarioFiles = readdirSync(here).filter((file) => file.endsWith('.test.ts'));
    const links = scenarioFiles.flatMap((file) =>
      [...readFileSync(join(here, file), 'utf8').matchAll(/compat\.md#([\w-]+)/g)].map(
        (match) => match[1],
      ),
    );
    expect(links.length).toBeGreaterThan(0);
    for (const anchor of links) expect(compat).toContain(`<a id="${anchor}"></a>`);
  });
});
