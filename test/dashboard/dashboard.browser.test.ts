/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core),
 * watching a `lifeguard/pg` pool under real load against PostgreSQL: the page loads, shows the
 * pool, its numbers move while the load runs, it logs no errors (a CSP violation would be one)
 * and it requests nothing from any host but the dashboard's own.
 *
 * With LIFEGUARD_SCREENSHOT=1 it also writes docs/images/dashboard.png, after letting the load
 * run long enough to fill the charts. Without chromium the test is skipped, with the install
 * command in its title; CI installs it and, with LIFEGUARD_REQUIRE_EXTRAS=1, fails without it.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterEach, expect, it } from 'vitest';

import { startDashboard, type StandaloneDashboard } from '../../src/dashboard/index.js';
import type { Pool } from '../../src/pg/index.js';
import { createLanes } from '../../src/routing/index.js';
import { createPool, databaseUrl } from '../pg/helpers.js';
import { describeWithExtra } from '../support/extras.js';

const kChromium = '/usr/bin/chromium';
const kChromiumMissing = existsSync(kChromium)
  ? undefined
  : `Chromium is not installed at ${kChromium} (apt-get install -y chromium; .ci/run installs it)`;
const kArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const kScreenshot = process.env.LIFEGUARD_SCREENSHOT === '1';
const kScreenshotPath = fileURLToPath(new URL('../../docs/images/dashboard.png', import.meta.url));
/** A name with markup in it: it must show as text, never as HTML. */
const kPoolName = 'orders <db> & "replica"';

/**
 * The little of the DOM that the functions run inside the page use. The project compiles
 * without the DOM library (it is a Node package), so the page's `document` is typed here.
 */
interface PageElement {
  readonly id: string;
  readonly textContent: string | null;
}
interface PageDocument {
  getElementById(id: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
}
declare const document: PageDocument;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function launchBrowser(): Promise<BrowserContext> {
  // A fresh profile per run: nothing cached or remembered from an earlier one.
  const profile = await mkdtemp(join(tmpdir(), 'lifeguard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: kChromium,
    headless: true,
    args: kArgs,
    viewport: { width: 1280, height: 1000 },
    deviceScaleFactor: 1,
  });
  cleanups.push(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return context;
}

/**
 * Keeps `pool` busy until stopped: a number of virtual callers that changes every second
 * (so that the charts show load rising and falling), each running short queries back to back.
 */
function runLoad(pool: Pool): {
  pause(paused: boolean): void;
  stop(): Promise<void>;
  queries(): number;
} {
  const steps = [3, 8, 16, 24, 12, 4, 1, 10, 20, 6];
  const callers = Math.max(...steps);
  let active = steps[0]!;
  let queries = 0;
  let stopped = false;
  let paused = false;
  const started = Date.now();
  const stepper = setInterval(() => {
    active = steps[Math.floor((Date.now() - started) / 1000) % steps.length]!;
  }, 100);
  stepper.unref();
  const caller = async (index: number): Promise<void> => {
    while (!stopped) {
      if (paused || index >= active) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      try {
        await pool.query('SELECT pg_sleep($1::float8)', [0.002 + Math.random() * 0.01]);
        queries++;
      } catch {
        // Acquire timeouts are expected at the peaks; the dashboard counts them.
      }
    }
  };
  const running = Promise.all(Array.from({ length: callers }, (_, i) => caller(i)));
  return {
    pause(value) {
      paused = value;
    },
    async stop() {
      stopped = true;
      clearInterval(stepper);
      await running;
    },
    queries: () => queries,
  };
}

/**
 * Fails a few acquires with ERR_POOL_ACQUIRE_TIMEOUT, for certain: every connection is held
 * longer than the pool's acquire timeout while three more queries ask for one.
 */
async function causeAcquireTimeouts(pool: Pool, max: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: max }, () => pool.connect()));
  const failed = await Promise.allSettled([1, 2, 3].map(() => pool.query('SELECT 1')));
  for (const client of clients) client.release();
  return failed.filter((r) => r.status === 'rejected').length;
}

/** The tiles' numbers as shown, commas removed. */
async function readTiles(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const values: Record<string, number> = {};
    for (const node of document.querySelectorAll('[id^="v-"]')) {
      values[node.id.slice(2)] = Number.parseFloat((node.textContent ?? '').replace(/,/g, ''));
    }
    values.samples = Number(document.getElementById('samples')?.textContent);
    return values;
  });
}

async function waitForMoreSamples(page: Page, than: number, count: number): Promise<void> {
  await page.waitForFunction(
    (target) => Number(document.getElementById('samples')?.textContent) >= target,
    than + count,
    { timeout: 15_000, polling: 50 },
  );
}

describeWithExtra('lifeguard/dashboard in a real browser', kChromiumMissing, () => {
  it('shows a pg pool under load, live, with nothing but its own requests', async () => {
    const max = 4;
    const pool = createPool({
      name: kPoolName,
      max,
      // One query per checkout, so that waits for a connection (the histogram) happen.
      pipelineQueries: false,
      connectionTimeoutMillis: 400,
      idleTimeoutMillis: 1_500,
    });
    const dashboard: StandaloneDashboard = await startDashboard(pool, {
      intervalMillis: kScreenshot ? 250 : 150,
    });
    cleanups.push(() => dashboard.close());
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    const context = await launchBrowser();
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    const hosts = new Set<string>();
    context.on('request', (request) => hosts.add(new URL(request.url()).host));

    const load = runLoad(pool);
    cleanups.push(() => load.stop());

    await page.goto(dashboard.url);
    expect(await page.title()).toBe(`Lifeguard dashboard: ${kPoolName}`);
    expect(await page.textContent('#pool-name')).toBe(kPoolName);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live');

    await waitForMoreSamples(page, 0, 2);
    const before = await readTiles(page);
    await waitForMoreSamples(page, before.samples!, 4);
    const after = await readTiles(page);

    // The cumulative count only grows under load, and the rate and pool were seen working.
    expect(after.throughputTotal).toBeGreaterThan(before.throughputTotal!);
    expect(after.throughput).toBeGreaterThan(0);
    expect(after.total).toBeGreaterThan(0);
    expect(after.total).toBeLessThanOrEqual(max);
    // The charts are drawn: lines for the four series, and histogram bars with a height.
    expect(await page.locator('#chart-connections polyline').count()).toBe(4);
    const bars = await page
      .locator('#chart-wait rect')
      .evaluateAll((rects) => rects.filter((r) => Number(r.getAttribute('height')) > 0).length);
    expect(bars).toBeGreaterThan(0);

    // Errors by code: three acquires are made to time out, and the table names them. The load
    // pauses meanwhile, so that taking every connection cannot itself time out on a busy machine.
    load.pause(true);
    expect(await causeAcquireTimeouts(pool, max)).toBe(3);
    load.pause(false);
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('#errors td.code')].some(
          (cell) => cell.textContent === 'ERR_POOL_ACQUIRE_TIMEOUT',
        ),
      undefined,
      { timeout: 10_000, polling: 50 },
    );
    const errorsShown = await readTiles(page);
    expect(errorsShown.errorsTotal).toBeGreaterThanOrEqual(3);

    if (kScreenshot) {
      // Let the load rise and fall a few times so that the charts have a story to tell.
      await page.waitForTimeout(26_000);
      await mkdir(join(kScreenshotPath, '..'), { recursive: true });
      await page.screenshot({ path: kScreenshotPath, fullPage: true });
    }

    await load.stop();
    expect(load.queries()).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    expect([...hosts]).toEqual([new URL(dashboard.url).host]);
  }, 90_000);
  it("draws a router's budget with one row per member", async () => {
    const router = createLanes({
      connectionString: databaseUrl,
      name: 'shop',
      budget: 4,
      lanes: { api: { min: 1, max: 4 }, reports: { max: 3, pipelineQueries: false } },
    });
    cleanups.push(() => router.end());
    const dashboard = await startDashboard(router, { intervalMillis: 150 });
    cleanups.push(() => dashboard.close());
    await router.query('SELECT 1');
    await router.query({ text: 'SELECT 1', lane: 'reports' });

    const context = await launchBrowser();
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.goto(dashboard.url);
    await page.waitForFunction(
      () => [...document.querySelectorAll('#budget-members td.member')].length === 2,
      undefined,
      { timeout: 10_000, polling: 50 },
    );
    const members = await page.locator('#budget-members td.member').allTextContents();
    expect(members).toEqual(['shop.api', 'shop.reports']);
    expect(await page.textContent('#budget-name')).toBe('shop');
    expect(await page.textContent('#budget-summary')).toMatch(/^\d of 4 connections used$/);
    expect(await page.locator('#budget').isVisible()).toBe(true);
    expect(problems).toEqual([]);
  }, 60_000);
});
