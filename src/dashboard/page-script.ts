/**
 * The browser side of the dashboard, as plain ES2017 served inline: no build step, no library,
 * no request anywhere but the page's own `events` stream. Everything shown is set through
 * `textContent` or SVG attributes, never parsed as HTML, so a pool name or an error code cannot
 * inject markup. (Written without template literals: this file is itself one.)
 */
export const kPageScript = `
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';
  // total last and dashed: it often equals in use, and would otherwise hide under it.
  var SERIES = [
    { key: 'idle', color: 'var(--idle)' },
    { key: 'inUse', color: 'var(--inuse)' },
    { key: 'waiting', color: 'var(--waiting)' },
    { key: 'total', color: 'var(--total)', dash: '6 4' }
  ];
  var MIN_WINDOW_MS = 30000;
  var history = [];
  var state = null;
  var historySize = 300;
  var intervalMillis = 1000;
  var received = 0;

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    for (var name in attrs) node.setAttribute(name, String(attrs[name]));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function fmtInt(n) { return Math.round(n).toLocaleString('en-US'); }
  function fmtRate(n) { return n < 10 ? n.toFixed(1) : fmtInt(n); }
  function fmtMs(n) {
    if (n >= 1000) return (n / 1000).toFixed(n >= 10000 ? 0 : 1) + ' s';
    return (n < 10 ? n.toFixed(1) : fmtInt(n)) + ' ms';
  }
  // A y axis from 0 past v in round steps (1, 2, 2.5 or 5 times a power of ten), 2 to 5 of them.
  function axis(v) {
    if (!(v > 0)) v = 1;
    var raw = v / 4;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    var step = 10 * p;
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= raw) { step = steps[i] * p; break; }
    if (step < 1 && v >= 1) step = 1;
    var n = Math.max(2, Math.ceil(v / step));
    return { max: n * step, step: step, n: n };
  }
  function yAxis(svg, a, left, width, top, ph) {
    for (var g = 0; g <= a.n; g++) {
      var y = top + ph - (g / a.n) * ph;
      svg.appendChild(el('line', { x1: left, x2: left + width, y1: y, y2: y, 'class': 'grid-line' }));
      var v = a.step * g;
      svg.appendChild(el('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' },
        v === Math.round(v) ? fmtInt(v) : v.toFixed(1)));
    }
  }
  function size(svg) {
    var w = Math.max(200, svg.clientWidth || 600);
    var h = Math.max(120, svg.clientHeight || 220);
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    return { w: w, h: h };
  }

  // A line chart over time: y from 0 to a rounded maximum, x over the last minute or the
  // whole history, whichever is longer, with "now" on the right.
  function lineChart(svg, series, yMaxHint) {
    clear(svg);
    var s = size(svg);
    var left = 44, right = 10, top = 8, bottom = 22;
    var pw = s.w - left - right, ph = s.h - top - bottom;
    var yMax = yMaxHint;
    history.forEach(function (p) {
      series.forEach(function (d) { if (p[d.key] > yMax) yMax = p[d.key]; });
    });
    var a = axis(yMax);
    yMax = a.max;
    yAxis(svg, a, left, pw, top, ph);
    if (history.length === 0) return;
    var last = history[history.length - 1].time;
    var span = Math.max(MIN_WINDOW_MS, last - history[0].time);
    function x(t) { return left + pw - ((last - t) / span) * pw; }
    [[0, '-' + Math.round(span / 1000) + ' s', 'start'], [0.5, '-' + Math.round(span / 2000) + ' s', 'middle'], [1, 'now', 'end']]
      .forEach(function (tick) {
        svg.appendChild(el('text', { x: left + tick[0] * pw, y: s.h - 6, 'text-anchor': tick[2] }, tick[1]));
      });
    series.forEach(function (d) {
      var points = history.map(function (p) {
        return x(p.time).toFixed(1) + ',' + (top + ph - (p[d.key] / yMax) * ph).toFixed(1);
      });
      if (points.length === 1) points.push((left + pw).toFixed(1) + ',' + points[0].split(',')[1]);
      var line = el('polyline', { points: points.join(' '), 'class': 'series', stroke: d.color });
      if (d.dash) line.setAttribute('stroke-dasharray', d.dash);
      svg.appendChild(line);
    });
  }

  // Bars are labelled with their lower bound in ms ("5" holds waits from 5 to 10 ms).
  function bucketLabel(bounds, i) {
    function short(ms) { return ms >= 1000 ? ms / 1000 + 's' : String(ms); }
    if (i === 0) return '<' + short(bounds[0]);
    if (i === bounds.length) return '≥' + short(bounds[i - 1]);
    return short(bounds[i - 1]);
  }
  function bucketRange(bounds, i) {
    if (i === 0) return 'under ' + fmtMs(bounds[0]);
    if (i === bounds.length) return fmtMs(bounds[i - 1]) + ' or more';
    return fmtMs(bounds[i - 1]) + ' to ' + fmtMs(bounds[i]);
  }

  function histogramChart(svg, histogram) {
    clear(svg);
    var s = size(svg);
    var left = 44, right = 10, top = 14, bottom = 22;
    var pw = s.w - left - right, ph = s.h - top - bottom;
    var counts = histogram.counts;
    var a = axis(Math.max.apply(null, counts));
    var yMax = a.max;
    yAxis(svg, a, left, pw, top, ph);
    var slot = pw / counts.length;
    var every = slot < 30 ? 2 : 1;
    counts.forEach(function (n, i) {
      var h = (n / yMax) * ph;
      var bx = left + i * slot + slot * 0.15;
      var rect = el('rect', { x: bx, y: top + ph - h, width: slot * 0.7, height: Math.max(h, 0), 'class': 'bar' });
      rect.appendChild(el('title', {}, bucketRange(histogram.bounds, i) + ': ' + fmtInt(n)));
      svg.appendChild(rect);
      if (n > 0) svg.appendChild(el('text', { x: bx + slot * 0.35, y: top + ph - h - 3, 'text-anchor': 'middle' }, fmtInt(n)));
      if (i % every === 0) {
        svg.appendChild(el('text', { x: left + i * slot + slot / 2, y: s.h - 6, 'text-anchor': 'middle' }, bucketLabel(histogram.bounds, i)));
      }
    });
  }

  function errorsTable(errors) {
    var body = $('errors');
    clear(body);
    var codes = Object.keys(errors).filter(function (c) { return errors[c] > 0; });
    codes.sort(function (a, b) { return errors[b] - errors[a] || (a < b ? -1 : 1); });
    $('errors-empty').hidden = codes.length > 0;
    codes.forEach(function (code) {
      var row = document.createElement('tr');
      var c = document.createElement('td');
      c.className = 'code';
      c.textContent = code;
      var n = document.createElement('td');
      n.className = 'count';
      n.textContent = fmtInt(errors[code]);
      row.appendChild(c);
      row.appendChild(n);
      body.appendChild(row);
    });
  }

  function cell(row, text, className) {
    var td = document.createElement('td');
    if (className) td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }
  // A member's share of the budget: its used slots as a bar over the budget's max, its min as
  // a tick (the slots kept for it).
  function meter(member, max) {
    var svg = el('svg', { 'class': 'meter', viewBox: '0 0 100 10', preserveAspectRatio: 'none' });
    var scale = max > 0 ? 100 / max : 0;
    svg.appendChild(el('rect', { x: 0, y: 0, width: 100, height: 10, 'class': 'room' }));
    svg.appendChild(el('rect', { x: 0, y: 0, width: Math.min(100, member.used * scale), height: 10, 'class': 'used' }));
    if (member.min > 0) {
      var x = Math.min(100, member.min * scale);
      svg.appendChild(el('line', { x1: x, x2: x, y1: 0, y2: 10, 'class': 'min' }));
    }
    svg.appendChild(el('title', {}, member.used + ' of ' + max + ' slots, min ' + member.min + ', max ' + member.max));
    return svg;
  }
  // One row per member; waiting and in use only for members that are pools this page watches.
  function budgetTable(budget) {
    var card = $('budget');
    card.hidden = !budget;
    if (!budget) return;
    $('budget-name').textContent = budget.name;
    $('budget-summary').textContent = fmtInt(budget.used) + ' of ' + fmtInt(budget.max) + ' connections used';
    var body = $('budget-members');
    clear(body);
    $('budget-empty').hidden = budget.members.length > 0;
    budget.members.forEach(function (m) {
      var row = document.createElement('tr');
      row.dataset.wanting = m.wanting > 0 ? 'true' : 'false';
      cell(row, m.name, 'member');
      cell(row, '', 'meter-col').appendChild(meter(m, budget.max));
      cell(row, fmtInt(m.used), 'count');
      cell(row, fmtInt(m.min), 'count');
      cell(row, fmtInt(m.max), 'count');
      cell(row, fmtInt(m.wanting), 'count wanting');
      cell(row, fmtInt(m.shedding), 'count');
      cell(row, m.waiting === undefined ? '-' : fmtInt(m.waiting), 'count');
      cell(row, m.inUse === undefined ? '-' : fmtInt(m.inUse), 'count');
      body.appendChild(row);
    });
  }

  function setValue(key, text) {
    var node = $('v-' + key);
    if (node && node.textContent !== text) node.textContent = text;
  }

  function render() {
    var latest = history[history.length - 1];
    if (!latest || !state) return;
    setValue('total', fmtInt(latest.total));
    setValue('idle', fmtInt(latest.idle));
    setValue('inUse', fmtInt(latest.inUse));
    setValue('waiting', fmtInt(latest.waiting));
    setValue('pendingCreates', fmtInt(latest.pendingCreates));
    setValue('throughput', fmtRate(latest.throughput));
    setValue('throughputTotal', fmtInt(state.throughputTotal));
    setValue('errorsTotal', fmtInt(state.errorsTotal));
    setValue('waitP99', fmtMs(state.waitTime.p99));
    var unit = state.throughputUnit;
    $('l-throughput').textContent = unit === 'queries' ? 'Queries/s' : 'Checkouts/s';
    $('l-throughputTotal').textContent = unit === 'queries' ? 'Queries' : 'Checkouts';
    $('throughput-unit').textContent = unit + ' per second';
    var circuit = $('circuit');
    circuit.dataset.state = latest.circuit;
    circuit.textContent = 'circuit ' + latest.circuit;
    $('max').textContent = 'max ' + state.max + ', min ' + state.min;
    $('wait-summary').textContent = fmtInt(state.histogram.total) + ' checkouts; of those that waited: p50 ≤ ' +
      fmtMs(state.waitTime.p50) + ', p99 ≤ ' + fmtMs(state.waitTime.p99) + ', max ' + fmtMs(state.waitTime.max);
    lineChart($('chart-connections'), SERIES, state.max);
    lineChart($('chart-throughput'), [{ key: 'throughput', color: 'var(--through)' }, { key: 'errorRate', color: 'var(--error)' }], 1);
    histogramChart($('chart-wait'), state.histogram);
    errorsTable(state.errors);
    budgetTable(state.budget);
    $('samples').textContent = String(received);
    $('updated').textContent = new Date(latest.time).toLocaleTimeString();
  }

  function status(live, text) {
    var node = $('status');
    node.dataset.live = live ? 'true' : 'false';
    node.textContent = text;
  }

  var base = location.pathname.slice(-1) === '/' ? location.pathname : location.pathname + '/';
  var source = new EventSource(base + 'events');
  source.addEventListener('open', function () { status(true, 'live'); });
  source.addEventListener('error', function () { status(false, 'reconnecting…'); });
  source.addEventListener('snapshot', function (event) {
    var snapshot = JSON.parse(event.data);
    history = snapshot.history.slice();
    state = snapshot.state;
    historySize = snapshot.historySize;
    intervalMillis = snapshot.intervalMillis;
    $('pool-name').textContent = snapshot.name;
    $('interval').textContent = fmtMs(intervalMillis);
    $('history-size').textContent = fmtInt(historySize);
    received++;
    status(true, 'live');
    render();
  });
  source.addEventListener('sample', function (event) {
    var update = JSON.parse(event.data);
    history.push(update.sample);
    if (history.length > historySize) history.splice(0, history.length - historySize);
    state = update.state;
    received++;
    render();
  });
  var resizing = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizing);
    resizing = setTimeout(render, 100);
  });
})();
`;
