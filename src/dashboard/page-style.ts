/**
 * The page's CSS. Kept apart from the script and the markup so each stays readable; served
 * inline (no extra request, no build step) and allowed by its hash in the CSP.
 */
export const kPageStyle = `
:root {
  color-scheme: light;
  --bg: #f4f6f9; --card: #fff; --ink: #1d2430; --muted: #667085; --line: #e4e7ec;
  --total: #344054; --idle: #12b76a; --inuse: #2e90fa; --waiting: #f79009; --error: #d92d20;
  --through: #7a5af8;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header {
  display: flex; align-items: center; gap: 12px; flex-wrap: wrap;
  padding: 14px 24px; background: var(--card); border-bottom: 1px solid var(--line);
}
h1 { font-size: 18px; margin: 0; font-weight: 600; }
h1 .name { color: var(--muted); font-weight: 500; margin-left: 6px; }
.badge {
  padding: 3px 10px; border-radius: 999px; font-size: 12px; font-weight: 600;
  background: #ecfdf3; color: #027a48;
}
.badge[data-state="half-open"] { background: #fffaeb; color: #b54708; }
.badge[data-state="open"] { background: #fef3f2; color: #b42318; }
.status { margin-left: auto; color: var(--muted); font-size: 12px; }
.status::before {
  content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
  margin-right: 6px; background: #98a2b3; vertical-align: 0;
}
.status[data-live="true"]::before { background: var(--idle); }
main { padding: 20px 24px; max-width: 1400px; margin: 0 auto; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(118px, 1fr)); gap: 12px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.tile .label { color: var(--muted); font-size: 12px; }
.tile .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile[data-key="total"] .value { color: var(--total); }
.tile[data-key="idle"] .value { color: var(--idle); }
.tile[data-key="inUse"] .value { color: var(--inuse); }
.tile[data-key="waiting"] .value { color: var(--waiting); }
.tile[data-key="throughput"] .value { color: var(--through); }
.tile[data-key="errorsTotal"] .value { color: var(--error); }
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; margin-top: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; margin: 0; }
.card.wide { grid-column: 1 / -1; }
.card h2 { font-size: 14px; margin: 0 0 8px; font-weight: 600; display: flex; gap: 14px; flex-wrap: wrap; }
.note { color: var(--muted); font-weight: 400; font-size: 12px; }
.legend { display: flex; gap: 14px; font-size: 12px; color: var(--muted); font-weight: 400; }
.legend i { display: inline-block; width: 10px; height: 3px; margin-right: 5px; vertical-align: middle; }
.legend i.total { background: var(--total); }
.legend i.idle { background: var(--idle); }
.legend i.inUse { background: var(--inuse); }
.legend i.waiting { background: var(--waiting); }
.legend i.throughput { background: var(--through); }
.legend i.errors { background: var(--error); }
svg.chart { width: 100%; height: 220px; display: block; }
svg.chart text { fill: var(--muted); font-size: 11px; }
svg.chart .grid-line { stroke: var(--line); stroke-width: 1; }
svg.chart .series { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg.chart .bar { fill: var(--waiting); }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
td, th { text-align: left; padding: 6px 4px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
.count { text-align: right; }
td.code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--error); }
.empty { color: var(--muted); }
.card h2 .name { color: var(--muted); font-weight: 500; }
td.member { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
th.meter-col { width: 30%; }
svg.meter { width: 100%; height: 10px; display: block; }
svg.meter .room { fill: var(--line); }
svg.meter .used { fill: var(--inuse); }
svg.meter .min { stroke: var(--total); stroke-width: 2; }
tr[data-wanting="true"] td.wanting { color: var(--waiting); font-weight: 600; }
footer { color: var(--muted); font-size: 12px; padding: 0 24px 20px; max-width: 1400px; margin: 0 auto; }
@media (max-width: 800px) { .grid { grid-template-columns: 1fr; } }
`;
