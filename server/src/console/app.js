// The Strata console: a SQL editor, a results table, an automatic time-series chart, a browser of
// tables and segments, history and auto-refresh. Plain JavaScript, no dependencies; it talks to the
// server only through POST /v1/sql. Every value from the server goes into the page as text
// (textContent), never as HTML.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const KEYS = { history: 'strata.history', token: 'strata.token', query: 'strata.query', refresh: 'strata.refresh' };
  const HISTORY_MAX = 100;
  const TABLE_ROWS_MAX = 1000; // rows drawn in the results table (the chart uses all rows)
  const SERIES_MAX = 10;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const COLORS = ['#1f6feb', '#e8590c', '#2f9e44', '#c2255c', '#7048e8', '#0c8599', '#f08c00', '#5c940d', '#862e9c', '#495057'];
  const TIME_TYPE = /^(TIMESTAMP|DATE)/i;
  const NUMERIC_TYPE = /^(TINYINT|SMALLINT|INTEGER|INT|BIGINT|REAL|FLOAT|DOUBLE|DECIMAL|NUMERIC)/i;
  const DEFAULT_QUERY =
    "SELECT time_bucket(INTERVAL '5 seconds', time) AS t, device, COUNT(*) AS events\n" +
    "FROM events\nWHERE time > now() - INTERVAL '5 minutes'\nGROUP BY t, device\nORDER BY t";

  const editor = $('editor');
  let running = null; // the AbortController of the query in flight
  let refreshTimer = null;
  let lastResult = null; // redrawn when the window is resized
  let lastQuery = null; // what auto-refresh re-runs

  function store(key, value) {
    try { localStorage.setItem(key, value); } catch (e) { /* private mode or full: no persistence */ }
  }
  function load(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }

  // ---- talking to the server -------------------------------------------------------------

  class QueryError extends Error {
    constructor(code, message, extra) {
      super(message);
      this.code = code;
      this.extra = extra || {};
    }
  }

  async function sql(query, signal) {
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    const token = load(KEYS.token);
    if (token) headers.authorization = 'Bearer ' + token;
    let response;
    try {
      response = await fetch('/v1/sql', { method: 'POST', headers, body: JSON.stringify({ query }), signal });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new QueryError('NETWORK', 'cannot reach the server: ' + e.message);
    }
    const text = await response.text();
    let body = null;
    try { body = JSON.parse(text); } catch (e) { /* not JSON: reported below */ }
    if (!response.ok) {
      const err = body && body.error;
      if (err) {
        let message = err.message || '';
        if (response.status === 401 || response.status === 403) message += '\n(set a token with the "token" button)';
        throw new QueryError(err.code || 'HTTP_' + response.status, message, err);
      }
      throw new QueryError('HTTP_' + response.status, text.slice(0, 2000) || response.statusText);
    }
    if (!body || !Array.isArray(body.columns) || !Array.isArray(body.rows)) {
      throw new QueryError('BAD_RESPONSE', 'the server answered with something that is not a JSON result');
    }
    return body;
  }

  // ---- running the editor's query --------------------------------------------------------

  // Runs the editor's text; an auto-refresh (quiet) re-runs the last query that was run, so that
  // half-typed text in the editor is not sent every few seconds.
  async function run(options) {
    const quiet = Boolean(options && options.quiet); // auto-refresh: no history entry
    const query = quiet && lastQuery ? lastQuery : editor.value.trim();
    if (!query) {
      scheduleRefresh();
      return;
    }
    lastQuery = query;
    if (running) running.abort();
    const controller = new AbortController();
    running = controller;
    setStatus('running', 'running…');
    const started = performance.now();
    try {
      const result = await sql(query, controller.signal);
      if (running !== controller) return;
      hideError();
      renderStats(result, performance.now() - started);
      renderChart(result);
      renderTable(result);
      setStatus('done', (quiet ? 'refreshed ' : 'done ') + new Date().toLocaleTimeString());
      if (!quiet) {
        addHistory(query);
        if (/^\s*(create|drop)\b/i.test(query)) loadSidebar();
      }
    } catch (e) {
      if (e.name === 'AbortError' || running !== controller) return;
      showError(e);
      setStatus('error', 'failed');
    } finally {
      if (running === controller) running = null;
      scheduleRefresh();
    }
  }

  function setStatus(state, text) {
    const el = $('status');
    el.dataset.state = state;
    el.textContent = text;
  }

  function showError(e) {
    const el = $('error');
    el.textContent = '';
    const code = document.createElement('span');
    code.className = 'code';
    code.textContent = e.code || 'ERROR';
    el.append(code, document.createTextNode(e.message || String(e)));
    if (e.extra && (e.extra.line || e.extra.column)) {
      const where = [];
      if (e.extra.line) where.push('line ' + e.extra.line);
      if (e.extra.column) where.push('column ' + e.extra.column);
      el.append(document.createTextNode(' (' + where.join(', ') + ')'));
    }
    el.hidden = false;
  }

  function hideError() {
    $('error').hidden = true;
  }

  function renderStats(result, clientMs) {
    const parts = [];
    const n = result.rows.length;
    parts.push(n.toLocaleString() + (n === 1 ? ' row' : ' rows'));
    const s = result.stats || {};
    if (typeof s.elapsed_ms === 'number') parts.push(s.elapsed_ms.toFixed(1) + ' ms on the server');
    parts.push(Math.round(clientMs) + ' ms in total');
    if (typeof s.rows_scanned === 'number') parts.push(s.rows_scanned.toLocaleString() + ' rows scanned');
    if (typeof s.segments_scanned === 'number') {
      parts.push(s.segments_scanned + ' segments read' +
        (typeof s.segments_pruned === 'number' ? ', ' + s.segments_pruned + ' pruned' : ''));
    }
    if (n > TABLE_ROWS_MAX) parts.push('table shows the first ' + TABLE_ROWS_MAX.toLocaleString());
    $('stats').textContent = parts.join(' · ');
  }

  // ---- results table ---------------------------------------------------------------------

  function renderTable(result) {
    const table = $('results');
    table.textContent = '';
    $('results-box').hidden = false;
    const thead = table.createTHead();
    const head = thead.insertRow();
    const numeric = result.columns.map((c) => NUMERIC_TYPE.test(c.type || ''));
    for (const c of result.columns) {
      const th = document.createElement('th');
      th.textContent = c.name;
      const type = document.createElement('span');
      type.className = 'type';
      type.textContent = c.type || '';
      th.append(type);
      head.append(th);
    }
    const tbody = table.createTBody();
    const frag = document.createDocumentFragment();
    const rows = result.rows;
    const shown = Math.min(rows.length, TABLE_ROWS_MAX);
    for (let r = 0; r < shown; r++) {
      const tr = document.createElement('tr');
      const row = rows[r];
      for (let c = 0; c < result.columns.length; c++) {
        const td = document.createElement('td');
        const v = row[c];
        if (v === null || v === undefined) {
          td.className = 'null';
          td.textContent = 'NULL';
        } else {
          if (numeric[c]) td.className = 'num';
          td.textContent = typeof v === 'object' ? JSON.stringify(v) : String(v);
          if (td.textContent.length > 60) td.title = td.textContent;
        }
        tr.append(td);
      }
      frag.append(tr);
    }
    tbody.append(frag);
  }

  // ---- time-series chart -----------------------------------------------------------------

  function toNumber(v) {
    if (typeof v === 'number') return v;
    if (typeof v === 'string') {
      if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return NaN;
      const n = Number(v);
      return Number.isFinite(n) ? n : NaN;
    }
    return NaN;
  }

  // The series to draw, or null: needs a time column and at least one numeric column. With a
  // text column too (GROUP BY t, device), one series per text value of the first numeric column
  // (the SERIES_MAX largest); otherwise one series per numeric column.
  function chartSeries(result) {
    const cols = result.columns;
    const timeIdx = cols.findIndex((c) => TIME_TYPE.test(c.type || ''));
    if (timeIdx < 0) return null;
    const nums = [];
    cols.forEach((c, i) => { if (i !== timeIdx && NUMERIC_TYPE.test(c.type || '')) nums.push(i); });
    if (nums.length === 0) return null;
    const catIdx = cols.findIndex((c, i) => i !== timeIdx && !nums.includes(i) && /^(VARCHAR|TEXT|BOOLEAN)/i.test(c.type || ''));
    const series = new Map();
    const add = (name, x, y) => {
      let s = series.get(name);
      if (!s) { s = { name, points: [], total: 0 }; series.set(name, s); }
      s.points.push([x, y]);
      s.total += Math.abs(y);
    };
    for (const row of result.rows) {
      const x = Date.parse(row[timeIdx]);
      if (!Number.isFinite(x)) continue;
      if (catIdx >= 0) {
        const y = toNumber(row[nums[0]]);
        if (Number.isFinite(y)) add(row[catIdx] === null ? 'NULL' : String(row[catIdx]), x, y);
      } else {
        for (const i of nums) {
          const y = toNumber(row[i]);
          if (Number.isFinite(y)) add(cols[i].name, x, y);
        }
      }
    }
    let list = [...series.values()];
    if (catIdx >= 0) list.sort((a, b) => b.total - a.total);
    list = list.slice(0, SERIES_MAX);
    for (const s of list) s.points.sort((a, b) => a[0] - b[0]);
    const xs = new Set();
    for (const s of list) for (const p of s.points) xs.add(p[0]);
    if (xs.size < 2) return null;
    return { series: list, yLabel: catIdx >= 0 ? cols[nums[0]].name : '' };
  }

  function niceStep(span, count) {
    const raw = span / Math.max(count, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  }

  function formatY(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1).replace(/\.0$/, '') + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, '') + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(1).replace(/\.0$/, '') + 'k';
    return String(Math.round(v * 1000) / 1000);
  }

  function formatX(ms, span) {
    const iso = new Date(ms).toISOString(); // UTC, as the server writes timestamps
    if (span <= 2 * 86400e3) return iso.slice(11, span < 120e3 ? 19 : 16);
    if (span <= 90 * 86400e3) return iso.slice(5, 10) + ' ' + iso.slice(11, 16);
    return iso.slice(0, 10);
  }

  function svg(tag, attrs, parent) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const k in attrs) el.setAttribute(k, attrs[k]);
    if (parent) parent.append(el);
    return el;
  }

  function renderChart(result) {
    lastResult = result;
    const box = $('chart');
    const legend = $('legend');
    box.textContent = '';
    legend.textContent = '';
    const found = chartSeries(result);
    if (!found) {
      box.hidden = true;
      legend.hidden = true;
      return;
    }
    box.hidden = false;
    const W = Math.max(box.clientWidth - 12, 300);
    const H = 260;
    const M = { l: 56, r: 14, t: 10, b: 24 };
    let x0 = Infinity, x1 = -Infinity, y0 = 0, y1 = -Infinity;
    for (const s of found.series) {
      for (const [x, y] of s.points) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
    if (y1 <= y0) y1 = y0 + 1;
    const yStep = niceStep(y1 - y0, 5);
    y0 = Math.floor(y0 / yStep) * yStep;
    y1 = Math.ceil(y1 / yStep) * yStep;
    const sx = (x) => M.l + ((x - x0) / (x1 - x0)) * (W - M.l - M.r);
    const sy = (y) => H - M.b - ((y - y0) / (y1 - y0)) * (H - M.t - M.b);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'time-series chart' });
    for (let y = y0; y <= y1 + yStep / 2; y += yStep) {
      svg('line', { class: 'grid', x1: M.l, x2: W - M.r, y1: sy(y), y2: sy(y) }, root);
      const t = svg('text', { x: M.l - 6, y: sy(y) + 4, 'text-anchor': 'end' }, root);
      t.textContent = formatY(y);
    }
    const span = x1 - x0;
    const ticks = Math.max(2, Math.floor((W - M.l - M.r) / 110));
    for (let i = 0; i <= ticks; i++) {
      const x = x0 + (span * i) / ticks;
      const t = svg('text', { x: sx(x), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle' }, root);
      t.textContent = formatX(x, span);
    }
    svg('line', { class: 'axis', x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b }, root);
    svg('line', { class: 'axis', x1: M.l, x2: M.l, y1: M.t, y2: H - M.b }, root);
    found.series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const points = s.points.map(([x, y]) => sx(x).toFixed(1) + ',' + sy(y).toFixed(1)).join(' ');
      const line = svg('polyline', { class: 'series', points, stroke: color }, root);
      const title = svg('title', {}, line);
      title.textContent = s.name;
      if (s.points.length <= 120) {
        for (const [x, y] of s.points) {
          const dot = svg('circle', { cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: 2.2, fill: color }, root);
          svg('title', {}, dot).textContent = `${s.name}  ${new Date(x).toISOString()}  ${y}`;
        }
      }
      const item = document.createElement('span');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = color;
      item.append(swatch, document.createTextNode(s.name));
      legend.append(item);
    });
    if (found.yLabel) {
      const label = document.createElement('span');
      label.className = 'muted';
      label.textContent = '(' + found.yLabel + ')';
      legend.prepend(label);
    }
    legend.hidden = false;
    box.append(root);
  }

  // ---- history ---------------------------------------------------------------------------

  function history() {
    try {
      const h = JSON.parse(load(KEYS.history) || '[]');
      return Array.isArray(h) ? h.filter((q) => typeof q === 'string') : [];
    } catch (e) {
      return [];
    }
  }

  function addHistory(query) {
    const h = history().filter((q) => q !== query);
    h.unshift(query);
    store(KEYS.history, JSON.stringify(h.slice(0, HISTORY_MAX)));
    renderHistory();
  }

  function renderHistory() {
    const list = $('history');
    list.textContent = '';
    const h = history();
    if (h.length === 0) {
      const li = document.createElement('li');
      li.className = 'muted';
      li.textContent = 'queries you run appear here';
      list.append(li);
      return;
    }
    for (const q of h) {
      const li = document.createElement('li');
      li.textContent = q.replace(/\s+/g, ' ');
      li.title = q;
      li.addEventListener('click', () => {
        editor.value = q;
        store(KEYS.query, q);
        editor.focus();
      });
      list.append(li);
    }
  }

  // ---- tables and segments ---------------------------------------------------------------

  function quoteIdent(name) {
    return '"' + String(name).replace(/"/g, '""') + '"';
  }

  async function loadTables() {
    const box = $('tables');
    let result;
    try {
      result = await sql('SHOW TABLES');
    } catch (e) {
      box.textContent = '';
      const p = document.createElement('div');
      p.className = 'muted';
      p.textContent = 'cannot list tables: ' + (e.message || e);
      box.append(p);
      return;
    }
    box.textContent = '';
    if (result.rows.length === 0) {
      const p = document.createElement('div');
      p.className = 'muted';
      p.textContent = 'no tables yet (strata serve --demo creates one)';
      box.append(p);
    }
    for (const row of result.rows) {
      const name = String(row[0]);
      const details = document.createElement('details');
      const summary = document.createElement('summary');
      const label = document.createElement('span');
      label.className = 'name';
      label.textContent = name;
      const query = document.createElement('button');
      query.type = 'button';
      query.className = 'small';
      query.textContent = 'query';
      query.title = 'Show the newest rows of ' + name;
      summary.append(label, query);
      const cols = document.createElement('ul');
      details.append(summary, cols);
      details.dataset.table = name;
      let timeColumn = null;
      const describe = async () => {
        if (details.dataset.loaded) return;
        details.dataset.loaded = '1';
        try {
          const d = await sql('DESCRIBE ' + quoteIdent(name));
          cols.textContent = '';
          for (const c of d.rows) {
            const li = document.createElement('li');
            const n = document.createElement('span');
            n.className = 'col';
            n.textContent = c[0];
            const t = document.createElement('span');
            t.className = 'type';
            t.textContent = String(c[1]) + (c[2] === false || c[2] === 'NO' ? ' NOT NULL' : '');
            if (c[3] === true || c[3] === 'YES') {
              li.className = 'time';
              li.title = 'time column';
              timeColumn = c[0];
            }
            li.append(n, t);
            cols.append(li);
          }
        } catch (e) {
          delete details.dataset.loaded;
          cols.textContent = '';
          const li = document.createElement('li');
          li.className = 'muted';
          li.textContent = e.message || String(e);
          cols.append(li);
        }
      };
      details.addEventListener('toggle', () => { if (details.open) describe(); });
      query.addEventListener('click', async (ev) => {
        ev.preventDefault();
        await describe();
        editor.value = 'SELECT *\nFROM ' + quoteIdent(name) +
          (timeColumn ? '\nORDER BY ' + quoteIdent(timeColumn) + ' DESC' : '') + '\nLIMIT 100';
        store(KEYS.query, editor.value);
        run();
      });
      box.append(details);
    }
  }

  const SEGMENTS_QUERY =
    'SELECT "table", state, COUNT(*) AS segments, SUM(rows) AS rows, SUM(bytes) AS bytes,\n' +
    '       MIN(min_time) AS min_time, MAX(max_time) AS max_time\n' +
    'FROM system.segments\nGROUP BY "table", state\nORDER BY "table", state';

  function formatBytes(n) {
    if (typeof n !== 'number') return '';
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }

  async function loadSegments() {
    const box = $('segments');
    let result;
    try {
      result = await sql(SEGMENTS_QUERY);
    } catch (e) {
      box.textContent = '';
      const p = document.createElement('div');
      p.className = 'muted';
      p.textContent = 'cannot list segments: ' + (e.message || e);
      box.append(p);
      return;
    }
    box.textContent = '';
    if (result.rows.length === 0) {
      const p = document.createElement('div');
      p.className = 'muted';
      p.textContent = 'no segments';
      box.append(p);
      return;
    }
    const table = document.createElement('table');
    const head = table.createTHead().insertRow();
    for (const [label, num] of [['table', false], ['state', false], ['segs', true], ['rows', true], ['size', true]]) {
      const th = document.createElement('th');
      th.textContent = label;
      if (num) th.className = 'num';
      head.append(th);
    }
    const body = table.createTBody();
    for (const r of result.rows) {
      const tr = body.insertRow();
      const cells = [r[0], r[1], r[2], typeof r[3] === 'number' ? r[3].toLocaleString() : r[3], formatBytes(r[4])];
      cells.forEach((v, i) => {
        const td = tr.insertCell();
        td.textContent = v === null || v === undefined ? '' : String(v);
        if (i >= 2) td.className = 'num';
      });
      tr.title = r[5] ? 'time ' + r[5] + ' … ' + r[6] : '';
    }
    box.append(table);
  }

  function loadSidebar() {
    loadTables();
    loadSegments();
  }

  // ---- auto-refresh ----------------------------------------------------------------------

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = null;
    const ms = Number($('refresh').value);
    if (ms > 0) {
      refreshTimer = setTimeout(() => {
        if (document.hidden) { scheduleRefresh(); return; } // a background tab stays quiet
        run({ quiet: true });
        loadSegments();
      }, ms);
    }
  }

  // ---- wiring ----------------------------------------------------------------------------

  editor.value = load(KEYS.query) || DEFAULT_QUERY;
  editor.addEventListener('input', () => store(KEYS.query, editor.value));
  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    } else if (e.key === 'Tab' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      editor.setRangeText('  ', editor.selectionStart, editor.selectionEnd, 'end');
    }
  });
  $('run').addEventListener('click', () => run());
  $('refresh').value = load(KEYS.refresh) || '0';
  $('refresh').addEventListener('change', () => {
    store(KEYS.refresh, $('refresh').value);
    scheduleRefresh();
  });
  $('reload-tables').addEventListener('click', loadSidebar);
  $('segments-query').addEventListener('click', () => {
    editor.value = SEGMENTS_QUERY;
    store(KEYS.query, editor.value);
    editor.focus();
  });
  $('clear-history').addEventListener('click', () => {
    store(KEYS.history, '[]');
    renderHistory();
  });
  $('token').addEventListener('click', () => {
    const t = window.prompt('Bearer token for this server (empty: none)', load(KEYS.token) || '');
    if (t !== null) {
      store(KEYS.token, t.trim());
      loadSidebar();
    }
  });
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (lastResult) renderChart(lastResult); }, 150);
  });

  renderHistory();
  loadSidebar();
  scheduleRefresh();
  editor.focus();
})();
