/**
 * The page's script without a browser: run in a small fake DOM (elements by id, created on
 * first use, with textContent, children, attributes and `hidden`) and fed the events the
 * server sends, to check what it draws: the budget section with one row per member, hidden
 * when the state has no budget. The ids it uses are checked against the served HTML, so the
 * fake cannot drift from the page. The browser test covers the real rendering.
 */
import { runInNewContext } from 'node:vm';

import { describe, expect, it } from 'vitest';

import type { DashboardBudget } from '../../src/dashboard/budget-view.js';
import { renderPage } from '../../src/dashboard/page.js';
import { kPageScript } from '../../src/dashboard/page-script.js';
import type { DashboardSnapshot, DashboardState } from '../../src/dashboard/sampler.js';

class FakeNode {
  textContent = '';
  hidden = false;
  className = '';
  readonly dataset: Record<string, string> = {};
  readonly attributes: Record<string, string> = {};
  readonly children: FakeNode[] = [];
  readonly clientWidth = 600;
  readonly clientHeight = 220;

  constructor(readonly tag: string) {}

  get firstChild(): FakeNode | undefined {
    return this.children[0];
  }
  appendChild(child: FakeNode): FakeNode {
    this.children.push(child);
    return child;
  }
  removeChild(child: FakeNode): void {
    this.children.splice(this.children.indexOf(child), 1);
  }
  setAttribute(name: string, value: string): void {
    this.attributes[name] = value;
  }
}

type Listener = (event: { data: string }) => void;

/** Runs the page script once; returns its elements by id and a way to send it events. */
function runPage(): { byId: Map<string, FakeNode>; send(event: string, data: unknown): void } {
  const byId = new Map<string, FakeNode>();
  const listeners = new Map<string, Listener>();
  const document = {
    getElementById(id: string): FakeNode {
      if (!byId.has(id)) byId.set(id, new FakeNode('element'));
      return byId.get(id)!;
    },
    createElement: (tag: string) => new FakeNode(tag),
    createElementNS: (_ns: string, tag: string) => new FakeNode(tag),
  };
  class EventSource {
    constructor(readonly url: string) {}
    addEventListener(event: string, listener: Listener): void {
      listeners.set(event, listener);
    }
  }
  const window = { addEventListener() {} };
  const location = { pathname: '/' };
  runInNewContext(kPageScript, { document, window, location, EventSource });
  return {
    byId,
    send: (event, data) => listeners.get(event)!({ data: JSON.stringify(data) }),
  };
}

function state(budget?: DashboardBudget): DashboardState {
  return {
    max: 4,
    min: 0,
    throughputUnit: 'checkouts',
    throughputTotal: 0,
    errors: {},
    errorsTotal: 0,
    waitTime: { count: 0, mean: 0, p50: 0, p99: 0, max: 0 },
    histogram: { bounds: [1, 2], counts: [0, 0, 0], total: 0 },
    ...(budget === undefined ? {} : { budget }),
  };
}

function snapshot(budget?: DashboardBudget): DashboardSnapshot {
  const sample = {
    time: 0,
    total: 0,
    idle: 0,
    inUse: 0,
    waiting: 0,
    pendingCreates: 0,
    circuit: 'closed' as const,
    throughput: 0,
    errorRate: 0,
  };
  return {
    name: 'lanes',
    intervalMillis: 1000,
    historySize: 10,
    history: [sample],
    state: state(budget),
  };
}

const kBudget: DashboardBudget = {
  name: 'primary <b>',
  max: 6,
  used: 5,
  members: [
    { name: 'lanes.api', min: 2, max: 6, used: 4, wanting: 0, shedding: 1, waiting: 0, inUse: 3 },
    { name: 'other.pool', min: 0, max: 2, used: 1, wanting: 2, shedding: 0 },
  ],
};

/** The text of each cell of each row of the members' table. */
function rows(byId: Map<string, FakeNode>): string[][] {
  return byId.get('budget-members')!.children.map((row) => row.children.map((c) => c.textContent));
}

describe('the page script', () => {
  it('uses only ids the page has', () => {
    const { byId, send } = runPage();
    send('snapshot', snapshot(kBudget));
    const html = renderPage('lanes');
    const missing = [...byId.keys()].filter((id) => !html.includes(`id="${id}"`));
    expect(missing).toEqual([]);
    expect(html).toMatch(/<figure class="card wide" id="budget" hidden>/);
  });

  it('draws the budget and one row per member; waiting and in use only for pools it watches', () => {
    const { byId, send } = runPage();
    send('snapshot', snapshot(kBudget));
    expect(byId.get('budget')!.hidden).toBe(false);
    expect(byId.get('budget-name')!.textContent).toBe('primary <b>'); // text, never markup
    expect(byId.get('budget-summary')!.textContent).toBe('5 of 6 connections used');
    expect(byId.get('budget-empty')!.hidden).toBe(true);
    // member, share (an SVG bar), used, min, max, wanting, shedding, waiting, in use
    expect(rows(byId)).toEqual([
      ['lanes.api', '', '4', '2', '6', '0', '1', '0', '3'],
      ['other.pool', '', '1', '0', '2', '2', '0', '-', '-'],
    ]);
    const [api, other] = byId.get('budget-members')!.children;
    expect([api!.dataset.wanting, other!.dataset.wanting]).toEqual(['false', 'true']);
    // The bar: 4 of 6 slots used, the min of 2 marked at a third.
    const bar = api!.children[1]!.children[0]!;
    const [room, used, min] = bar.children;
    expect([room!.attributes.width, used!.attributes.width]).toEqual([
      '100',
      String((4 * 100) / 6),
    ]);
    expect(min!.attributes.x1).toBe(String((2 * 100) / 6));
  });

  it('follows each update, and hides the section without a budget', () => {
    const { byId, send } = runPage();
    send('snapshot', snapshot());
    expect(byId.get('budget')!.hidden).toBe(true);
    const sample = snapshot().history[0]!;
    send('sample', { sample, state: state({ ...kBudget, members: [] }) });
    expect(byId.get('budget')!.hidden).toBe(false);
    expect(byId.get('budget-empty')!.hidden).toBe(false);
    expect(rows(byId)).toEqual([]);
    send('sample', { sample, state: state(kBudget) });
    expect(rows(byId)).toHaveLength(2);
    send('sample', { sample, state: state() });
    expect(byId.get('budget')!.hidden).toBe(true);
  });
});
