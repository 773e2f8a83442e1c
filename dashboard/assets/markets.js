/* tickwire markets page, browser side: live price events → the chart's extendData and the
 * ticker tape's quotes.
 *
 * Chart (traces laid out by dashboard/markets/chart.py): 0 closed candles, 1 the current candle, 2 closed
 * volume, 3 current volume, then the indicator lines (config.markets.lineKeys, from
 * config.markets.firstLine: SMA, EMA, Bollinger, RSI, MACD). A tick in the current candle's
 * bucket updates it (trace 1/3 re-extended with maxPoints 1, i.e. replaced); a tick in a later
 * bucket closes it (appended to traces 0/2) and starts a new one. Buckets are the API's grid:
 * date_bin(interval, time, the rollups' origin). Ticks before the end of the fetched range are
 * already in the history and skipped; late ones for a closed bucket wait for the next history
 * load. Indicators are never computed here: once candles have closed, the page asks the API
 * (`/api/stocks/{t}/indicators`, the same names, at the chart's interval) for the closed
 * candles' values, at most once per max(interval, 5 s), and draws them with the next batch.
 */
(function () {
  "use strict";
  const shared = window.tickwire_shared;
  const config = shared.config;
  const COLUMNS = config.markets.columns;
  const NAMES = config.markets.indicatorNames;
  const LINE_KEYS = config.markets.lineKeys;
  const FIRST_LINE = config.markets.firstLine;
  const TRACES = FIRST_LINE + LINE_KEYS.length;
  const INDICATORS_EVERY_MS = 5000;
  const SPARK_MAX = 120;
  const DRAW_EVERY_MS = 1000;
  const chart = { version: null, seq: 0, cur: null, meta: null, closed: [], changed: false,
                  drawn: 0, lastClosed: null, ind: null };
  const tapeState = { version: null, seq: 0, items: {} };

  const noUpdate = shared.noUpdate;

  function reset(meta) {
    chart.version = meta.version;
    chart.meta = meta;
    const c = meta.current;
    chart.cur = c ? { t: Date.parse(c.t), o: c.o, h: c.h, l: c.l, c: c.c, v: c.v || 0, last: meta.end_ms - 1 } : null;
    chart.lastClosed = meta.closed_ms;
    // done: the last candle start whose indicators are drawn; ready: values not drawn yet.
    chart.ind = { done: meta.closed_ms, ready: [], busy: false, asked: 0 };
  }

  function applyTick(tick, closed) {
    const t = Date.parse(tick.time);
    const meta = chart.meta;
    if (!(t >= meta.end_ms)) return false;  // in the fetched history already
    const p = Number(tick.price);
    const vol = Number(tick.volume || 0);
    const cur = chart.cur;
    const next = shared.candleTick(cur, t, p, vol, meta.interval_ms);
    if (!next) return false;  // late, for a closed candle
    if (next !== cur) {
      if (cur) { closed.push(cur); chart.lastClosed = cur.t; }
      chart.cur = next;
    }
    return true;
  }

  // The API's indicators of the candles closed since the last ones drawn (one request at a
  // time, at most one per max(interval, INDICATORS_EVERY_MS)).
  function askIndicators() {
    const meta = chart.meta, ind = chart.ind, upto = chart.lastClosed;
    if (!meta.interval || ind.busy || upto === null || (ind.done !== null && upto <= ind.done)) return;
    const now = Date.now();
    if (now - ind.asked < Math.max(meta.interval_ms, INDICATORS_EVERY_MS)) return;
    ind.busy = true;
    ind.asked = now;
    const from = ind.done === null ? upto : ind.done + meta.interval_ms;
    const q = new URLSearchParams({ names: NAMES.join(","), interval: meta.interval,
      start: new Date(from).toISOString(), end: new Date(upto + meta.interval_ms).toISOString() });
    const version = chart.version;
    fetch(`/api/stocks/${encodeURIComponent(meta.ticker)}/indicators?${q}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => {
        if (!body || chart.version !== version) return;
        body.time.forEach((iso, i) => {
          const t = Date.parse(iso);
          if (t > upto || (ind.done !== null && t <= ind.done)) return;
          ind.ready.push({ t: t, values: LINE_KEYS.map((k) => body.series[k][i]) });
          ind.done = t;
          chart.changed = true;
        });
      })
      .catch(() => {})
      .finally(() => { if (chart.ind === ind) ind.busy = false; });
  }

  function extension(closed) {
    const iso = shared.wall;  // the page's zone, like the history (frame.wall)
    const cur = chart.cur;
    const cols = {};
    const traces = Array.from({ length: TRACES }, (_, i) => i);
    COLUMNS.forEach((k) => { cols[k] = traces.map(() => []); });
    closed.forEach((c) => {
      const x = iso(c.t);
      [0, 2].forEach((i) => cols.x[i].push(x));
      cols.open[0].push(c.o); cols.high[0].push(c.h); cols.low[0].push(c.l); cols.close[0].push(c.c);
      cols.y[2].push(c.v);
    });
    chart.ind.ready.forEach((point) => {
      const x = iso(point.t);
      point.values.forEach((v, j) => { cols.x[FIRST_LINE + j].push(x); cols.y[FIRST_LINE + j].push(v); });
    });
    chart.ind.ready = [];
    let caps = traces.map(() => chart.meta.max_points);
    if (cur) {
      const x = iso(cur.t);
      cols.x[1] = [x]; cols.x[3] = [x];
      cols.open[1] = [cur.o]; cols.high[1] = [cur.h]; cols.low[1] = [cur.l]; cols.close[1] = [cur.c];
      cols.y[3] = [cur.v];
      caps[1] = 1; caps[3] = 1;
    }
    const maxPoints = {};
    COLUMNS.forEach((k) => { maxPoints[k] = caps; });
    return [cols, traces, maxPoints];
  }

  function liveChart(batch, meta) {
    if (!batch || !meta || !meta.live) return noUpdate();
    if (chart.version !== meta.version) {
      reset(meta);
      chart.closed = [];
      chart.changed = false;
      chart.drawn = 0;
    }
    if (batch.seq <= chart.seq) return noUpdate();
    chart.seq = batch.seq;
    (batch.events || []).forEach((e) => {
      if (e.kind !== "price" || e.data.ticker !== meta.ticker) return;
      e.data.ticks.forEach((tick) => { if (applyTick(tick, chart.closed)) chart.changed = true; });
    });
    askIndicators();
    // A candlestick redraw is a long task: at most one per DRAW_EVERY_MS, with every tick
    // since the last one (the next batch brings what waits). Measured in one run, 20 tickers
    // live (window.tickwire_draw_every_ms overrides it for such A/B runs): long tasks 24 and 31
    // per 20 s drawing every batch, 13 and 8 at 1 s; main thread busy 16–18 % → 12–15 %.
    const now = Date.now();
    const every = window.tickwire_draw_every_ms === undefined ? DRAW_EVERY_MS : window.tickwire_draw_every_ms;
    if (!chart.changed || now - chart.drawn < every) return noUpdate();
    const out = extension(chart.closed);
    chart.closed = [];
    chart.changed = false;
    chart.drawn = now;
    return out;
  }

  function addSpark(points, t, p) {
    // Keep the history's spacing: a tick within the last point's bucket replaces its value.
    const n = points.length;
    const step = n >= 2 ? Date.parse(points[n - 1][0]) - Date.parse(points[n - 2][0]) : 1000;
    if (n && t < Date.parse(points[n - 1][0]) + step) { points[n - 1][1] = p; return; }
    points.push([new Date(t).toISOString(), p]);
    if (points.length > SPARK_MAX) points.shift();
  }

  function spark(points) {
    if (points.length < 2) return "";
    const w = 90, h = 24;
    const coords = shared.polyline(points.map((p, i) => i), points.map((p) => p[1]), w, h, 0);
    return `<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><polyline fill="none" stroke="currentColor" stroke-width="1.3" points="${coords}"/></svg>`;
  }

  function signed(v, digits) { return (v >= 0 ? "+" : "") + v.toFixed(digits); }

  // DOM writes only where something changed: a live batch touches every watched ticker's
  // tile and table row, and each write costs a style recalculation.
  function put(el, text, className) {
    if (el.textContent !== text) el.textContent = text;
    if (className !== undefined && el.className !== className) el.className = className;
  }

  // The quote of `item` (last price, previous close) into the tape's tile and the watchlist
  // table's row: price, change and change % against the previous close, green up, red down.
  function draw(ticker, item) {
    const has = (v) => v !== null && v !== undefined;
    const places = document.querySelectorAll(
      `.markets-tick[data-ticker="${ticker}"], .markets-watch tr[data-ticker="${ticker}"]`);
    const up = has(item.last) && has(item.prev_close) ? item.last >= item.prev_close : null;
    const tone = up === null ? "" : up ? " tw-up" : " tw-down";
    const noClose = up === null && has(item.last);
    let change = "", pct = noClose ? "—" : "";
    if (up !== null) {
      const delta = item.last - item.prev_close;
      change = signed(delta, 2);
      pct = signed((delta / item.prev_close) * 100, 2) + "%";
    }
    places.forEach((el) => {
      const tile = el.classList.contains("markets-tick");
      put(el.querySelector(tile ? ".markets-tick-price" : ".markets-quote-price"),
        has(item.last) ? Number(item.last).toFixed(2) : "no prices");
      put(el.querySelector(".markets-quote-change"), change, "markets-quote-change" + tone);
      const pctEl = el.querySelector(".markets-quote-pct");
      put(pctEl, pct, "markets-quote-pct" + tone);
      pctEl.title = noClose ? "no previous close: no tick before today 00:00 UTC" : "";
      const sparkEl = tile && el.querySelector(".markets-tick-spark");
      if (sparkEl) {
        sparkEl.className = "markets-tick-spark" + tone;
        sparkEl.innerHTML = spark(item.spark);
      }
    });
  }

  function tape(batch, store, selected) {
    if (!store) return noUpdate();
    const fired = window.dash_clientside.callback_context.triggered.map((t) => t.prop_id);
    let touched = null;  // null: every tile (a new tape, a new selection)
    if (tapeState.version !== store.version) {
      tapeState.version = store.version;
      tapeState.items = JSON.parse(JSON.stringify(store.items || {}));
      tapeState.seq = batch ? batch.seq : 0;
    } else if (fired.includes("live-events.data") && batch && batch.seq > tapeState.seq) {
      tapeState.seq = batch.seq;
      touched = new Set();
      (batch.events || []).forEach((e) => {
        const item = e.kind === "price" && tapeState.items[e.data.ticker];
        if (!item) return;
        touched.add(e.data.ticker);
        e.data.ticks.forEach((tick) => {
          const p = Number(tick.price);
          item.last = p;
          addSpark(item.spark, Date.parse(tick.time), p);
        });
      });
      if (!touched.size) return noUpdate();
    } else if (!fired.includes("markets-selected.data") && fired.length) {
      return noUpdate();
    }
    // Drawn after React has rendered the tape's tiles; a live batch redraws only the tiles
    // of the tickers it moved (20 sparklines 4 times a second were the page's long tasks).
    setTimeout(() => {
      const tickers = touched ? Array.from(touched) : Object.keys(tapeState.items);
      tickers.forEach((t) => draw(t, tapeState.items[t]));
      if (touched) return;
      document.querySelectorAll(".markets-tick").forEach((el) => {
        el.classList.toggle("selected", el.dataset.ticker === selected);
      });
    }, 0);
    return noUpdate();
  }

  // The charted ticker: the URL's `ticker=`, else the tape's first ("" for an empty watchlist,
  // null while the tape is loading); the stream follows the tape's tickers and the charted one.
  function select(search, store, selected, filter) {
    const asked = new URLSearchParams(search || "").get("ticker");
    const tickers = store ? store.tickers || [] : null;
    const chosen = asked || (tickers ? tickers[0] || "" : null);
    if (chosen === null) return [noUpdate(), noUpdate()];
    const follow = Array.from(new Set((tickers || []).concat(chosen ? [chosen] : []))).sort();
    const want = { tickers: follow, devices: [], all: false };
    const same = filter && JSON.stringify(filter.tickers) === JSON.stringify(follow);
    return [chosen === selected ? noUpdate() : chosen, same ? noUpdate() : want];
  }

  // A click on a tape tile: its ticker into the URL (the other parameters kept in place).
  function pick(clicks, search) {
    const ctx = window.dash_clientside.callback_context;
    const fired = ctx.triggered.filter((t) => t.value);
    if (!fired.length) return noUpdate();
    const id = JSON.parse(fired[0].prop_id.split(".")[0]);
    const q = new URLSearchParams(search || "");
    if (q.get("ticker") === id.ticker) return noUpdate();
    q.set("ticker", id.ticker);
    return "?" + q.toString();
  }

  // A click on the watchlist's Add or a row's button → `markets-watch-do` ({id, at}): the
  // server's edit reads that store, which is in the page from the start, so it is not called
  // when the editor's rows arrive (it was, at every load: a request that did nothing).
  function watchClick() {
    const fired = window.dash_clientside.callback_context.triggered.filter((t) => t.value);
    if (!fired.length) return noUpdate();
    const name = fired[0].prop_id.split(".")[0];
    const id = name.startsWith("{") ? JSON.parse(name) : name;
    return { id: id, at: Date.now() };
  }

  // The chosen overlays and panels → `show=` in the URL (left out when the default), other
  // parameters kept in place; the page's layout reads it back on a load.
  function show(value, search) {
    const q = new URLSearchParams(search || "");
    const all = config.markets.show.all;
    const chosen = all.filter((k) => (value || []).includes(k)).join(",");
    if (chosen === config.markets.show.default.join(",")) q.delete("show");
    else q.set("show", chosen);
    const next = "?" + q.toString();
    return next === (search || "?") || (next === "?" && !search) ? noUpdate() : next;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.markets = { liveChart: liveChart, tape: tape, select: select, pick: pick, show: show,
    watchClick: watchClick };
  window.tickwire_markets = { chart: chart, tape: tapeState };
})();
