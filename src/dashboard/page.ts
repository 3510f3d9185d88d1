/**
 * The dashboard's one HTML page: markup, with the style and script inline, and the Content
 * Security Policy that goes with it. The policy allows exactly the inline style and script
 * below (by hash) and connections back to the page's own origin: nothing from a CDN or any other
 * host can load, and injected markup could not run even if escaping failed.
 */
import { createHash } from 'node:crypto';

import { kPageScript } from './page-script.js';
import { kPageStyle } from './page-style.js';

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

export const kContentSecurityPolicy = [
  "default-src 'none'",
  `script-src ${sha256(kPageScript)}`,
  `style-src ${sha256(kPageStyle)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

const kEscapes: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => kEscapes[c]!);
}

function tile(key: string, label: string): string {
  return (
    `<div class="tile" data-key="${key}"><div class="label" id="l-${key}">${label}</div>` +
    `<div class="value" id="v-${key}">-</div></div>`
  );
}

/**
 * The budget section, hidden until a state with a budget arrives (a router, or a pool that
 * joined a ConnectionBudget): the script fills its rows.
 */
const kBudgetCard = `<figure class="card wide" id="budget" hidden>
      <h2>Connection budget <span class="name" id="budget-name"></span> <span class="note" id="budget-summary"></span></h2>
      <table><thead><tr><th>member</th><th class="meter-col">share of the budget</th><th class="count">used</th><th class="count">min</th><th class="count">max</th><th class="count">wanting</th><th class="count">shedding</th><th class="count">waiting</th><th class="count">in use</th></tr></thead><tbody id="budget-members"></tbody></table>
      <p class="empty" id="budget-empty">No member has joined.</p>
    </figure>`;

/** The page for the pool called `poolName` (user input: escaped here, `textContent` later). */
export function renderPage(poolName: string): string {
  const name = escapeHtml(poolName);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Lifeguard dashboard: ${name}</title>
<style>${kPageStyle}</style>
</head>
<body>
<header>
  <h1>Lifeguard<span class="name" id="pool-name">${name}</span></h1>
  <span class="badge" id="circuit" data-state="closed">circuit -</span>
  <span class="note" id="max"></span>
  <span class="status" id="status" data-live="false">connecting&#8230;</span>
</header>
<main>
  <section class="tiles">
    ${tile('total', 'Total')}
    ${tile('idle', 'Idle')}
    ${tile('inUse', 'In use')}
    ${tile('waiting', 'Waiting')}
    ${tile('pendingCreates', 'Opening')}
    ${tile('throughput', 'Queries/s')}
    ${tile('throughputTotal', 'Queries')}
    ${tile('waitP99', 'Wait p99')}
    ${tile('errorsTotal', 'Errors')}
  </section>
  <section class="grid">
    <figure class="card wide">
      <h2>Connections
        <span class="legend"><span><i class="total"></i>total</span><span><i class="idle"></i>idle</span><span><i class="inUse"></i>in use</span><span><i class="waiting"></i>waiting</span></span>
      </h2>
      <svg class="chart" id="chart-connections" role="img" aria-label="connections over time"></svg>
    </figure>
    <figure class="card">
      <h2>Throughput <span class="legend"><span><i class="throughput"></i><span id="throughput-unit">per second</span></span><span><i class="errors"></i>errors per second</span></span></h2>
      <svg class="chart" id="chart-throughput" role="img" aria-label="throughput over time"></svg>
    </figure>
    <figure class="card">
      <h2>Wait for a connection, in ms <span class="note" id="wait-summary"></span></h2>
      <svg class="chart" id="chart-wait" role="img" aria-label="histogram of wait times"></svg>
    </figure>
    ${kBudgetCard}
    <figure class="card wide">
      <h2>Errors by code</h2>
      <table><thead><tr><th>code</th><th class="count">count</th></tr></thead><tbody id="errors"></tbody></table>
      <p class="empty" id="errors-empty">No errors.</p>
    </figure>
  </section>
</main>
<footer>Sampled every <span id="interval">-</span>, last <span id="history-size">-</span> samples kept. Updates received: <span id="samples">0</span>, last at <span id="updated">-</span>.</footer>
<script>${kPageScript}</script>
</body>
</html>
`;
}
