/* tickwire dashboards (/d/<uid>), browser side: the page's width (each panel asks for about
 * as many points as it is wide), the variables in the address, the edit mode's toolbar.
 */
(function () {
  "use strict";
  const shared = window.tickwire_shared;
  let saved = null;  // {uid, version, text} of the model as last read or saved
  let dirty = false;  // the working copy differs from it: leaving asks first
  let pending = null;  // the last drag, until `dropped` hands it to the `board-drag` store
  const GAP_PX = 8, ROW_PX = 30, COLUMNS = 24;  // assets/boards.css, dashboard/boards/panels.py
  const LIVE_POINTS = 5000;  // a trace keeps at most this many points while live (extendData's max)

  // Live points kept until the next flush: graph id → trace index → {x, y}.
  const kept = { graphs: {} };

  // The stream manager's direct handler (tickwire.js; the filter's `direct: "board"`): a
  // batch's points go to `kept` without a Dash store update, so nothing runs per batch.
  function keep(batch) {
    const points = pointsOf(batch);
    follow(batch, points);
    document.querySelectorAll(".board-grid .board-panel").forEach((panel) => {
      const id = { type: "board-graph", panel: JSON.parse(panel.id).panel };
      const gd = shared.plot(id);
      if (!gd || !gd.data || !gd.data.length) return;
      const key = String(id.panel);
      gd.data.forEach((trace, i) => {
        const m = trace.meta;
        if (!m || typeof m !== "object") return;
        const subject = subjectOf(m);
        const p = points[subject];
        if (!p) return;
        const graph = kept.graphs[key] || (kept.graphs[key] = {});
        if (graph[i] && graph[i].subject !== subject) delete graph[i];  // drawn again since
        const held = graph[i] || (graph[i] = { subject: subject, x: [], y: [] });
        const x = held.x.length ? held.x : trace.x || [];
        let after = x.length ? String(x[x.length - 1]) : "";
        p.x.forEach((t, k) => {
          if (t > after) {
            held.x.push(t);
            held.y.push(p.y[k]);
            after = t;
          }
        });
      });
    });
  }

  // Stat and candlestick panels follow the stream too, drawn straight into their plots (Plotly,
  // outside Dash), not at `refresh` (which still re-fetches them from the API): a stat's value,
  // colour and sparkline at most every DRAW_EVERY_MS, a candlestick's last candle at most every
  // CANDLE_EVERY_MS. A candlestick redraw is a long task (60+ ms): every second, /d/fleet's one
  // candlestick took its long tasks from 9–13 to 19–21 per 20 s (bench.dashboard, docs).
  const DRAW_EVERY_MS = 1000, CANDLE_EVERY_MS = 5000;
  const waiting = { points: {}, ticks: {}, timer: null, candles: 0 };

  function follow(batch, points) {
    Object.keys(points).forEach((s) => {
      const w = waiting.points[s] || (waiting.points[s] = { x: [], y: [] });
      w.x.push(...points[s].x);
      w.y.push(...points[s].y);
    });
    for (const ev of batch.events) {
      if (ev.kind !== "price") continue;
      const w = waiting.ticks[ev.data.ticker] || (waiting.ticks[ev.data.ticker] = []);
      w.push(...ev.data.ticks);
    }
    if (!waiting.timer) waiting.timer = setTimeout(followed, DRAW_EVERY_MS);
  }

  function followed() {
    const points = waiting.points;
    Object.assign(waiting, { points: {}, timer: null });
    document.querySelectorAll(".board-grid .board-panel.board-stat").forEach((panel) => {
      const gd = panel.querySelector(".js-plotly-plot");
      const meta = gd && gd.layout && gd.layout.meta;
      const p = meta && meta.subject && points[subjectOf(meta.subject)];
      if (p && gd.data && gd.data.length) statLive(panel, gd, meta, p);
    });
    if (!Object.keys(waiting.ticks).length) return;
    if (Date.now() - waiting.candles < CANDLE_EVERY_MS) {
      waiting.timer = setTimeout(followed, DRAW_EVERY_MS);  // the ticks wait for their turn
      return;
    }
    const ticks = waiting.ticks;
    waiting.ticks = {};
    waiting.candles = Date.now();
    document.querySelectorAll(".board-grid .board-panel.board-candlestick").forEach((panel) => {
      const gd = panel.querySelector(".js-plotly-plot");
      const meta = gd && gd.layout && gd.layout.meta;
      const found = meta && meta.ticker && ticks[meta.ticker];
      if (found && gd.data && gd.data.length >= 4) candleLive(gd, meta, found);
    });
  }

  // The points after the sparkline's last: the last one is the value (coloured by the
  // thresholds, as panels.py `stat`), all of them extend the sparkline.
  function statLive(panel, gd, meta, p) {
    const x = gd.data[0].x || [];
    const after = x.length ? String(x[x.length - 1]) : "";
    const keep = p.x.map((_, k) => k).filter((k) => p.x[k] > after);
    if (!keep.length) return;
    const value = p.y[keep[keep.length - 1]];
    const color = thresholdColor(meta.thresholds || [], value) || meta.color;
    const shown = panel.querySelector("div.board-stat");
    if (shown) {
      shown.textContent = number(value, meta.decimals, meta.unit);
      shown.style.color = color;
    }
    const change = panel.querySelector("div.board-stat-change");
    if (change) change.textContent = changeText(meta.base, value, meta.decimals, meta.unit);
    const update = { x: [keep.map((k) => p.x[k])], y: [keep.map((k) => p.y[k])] };
    window.Plotly.extendTraces(gd, update, [0], LIVE_POINTS);
    if ((gd.data[0].line || {}).color !== color) window.Plotly.restyle(gd, { "line.color": color }, [0]);
  }

  // panels.py `change_text`: the change from the range's first value to the live one.
  function changeText(base, value, decimals, unit) {
    if (base === null || base === undefined) return "";
    const change = value - base;
    const text = (change >= 0 ? "+" : "-") + number(Math.abs(change), decimals, unit);
    if (!base) return text;
    const pct = (change / Math.abs(base)) * 100;
    return `${text} (${pct >= 0 ? "+" : "-"}${Math.abs(pct).toFixed(1)} %)`;
  }

  function thresholdColor(steps, value) {
    let color = null;
    steps.slice().sort((a, b) => a.value - b.value).forEach((s) => { if (value >= s.value) color = s.color; });
    return color;
  }

  // Python's f"{v:.{decimals}f}" or f"{v:.4g}" (panels.py `_number`).
  function number(v, decimals, unit) {
    let text;
    if (decimals !== null && decimals !== undefined) {
      text = v.toFixed(decimals);
    } else {
      const [mantissa, exp] = v.toExponential(3).split("e");
      const e = Number(exp);
      text = e < -4 || e >= 4
        ? mantissa.replace(/\.?0+$/, "") + "e" + (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0")
        : String(Number(v.toPrecision(4)));
    }
    return unit ? text + " " + unit : text;
  }

  // Ticks after the fetched history (meta.end_ms) continue its last candle (trace 1, volume
  // trace 3) or, in a later bucket of the API's grid, close it (onto traces 0 and 2) and start
  // the next (`candleTick` in _shared.js, as markets.js). State per plot, started again by
  // each fetched figure.
  function candleLive(gd, meta, ticks) {
    let state = gd.tickwire_candle;
    if (!state || state.end_ms !== meta.end_ms) {
      const c = meta.current;
      state = gd.tickwire_candle = { end_ms: meta.end_ms, cur: Object.assign({ last: meta.end_ms - 1 }, c) };
    }
    const iv = meta.interval_ms, closed = [];
    let changed = false;
    ticks.forEach((tick) => {
      const t = Date.parse(tick.time), p = Number(tick.price), vol = Number(tick.volume || 0);
      if (!(t >= meta.end_ms)) return;  // in the fetched history already
      const next = shared.candleTick(state.cur, t, p, vol, iv);
      if (!next) return;  // a late tick for a closed candle: the next fetch has it
      if (next !== state.cur) { closed.push(state.cur); state.cur = next; }
      changed = true;
    });
    if (!changed) return;
    const cur = state.cur, wall = shared.wall;
    const update = {
      x: [closed.map((c) => wall(c.t)), [wall(cur.t)], closed.map((c) => wall(c.t)), [wall(cur.t)]],
      open: [closed.map((c) => c.o), [cur.o], [], []],
      high: [closed.map((c) => c.h), [cur.h], [], []],
      low: [closed.map((c) => c.l), [cur.l], [], []],
      close: [closed.map((c) => c.c), [cur.c], [], []],
      y: [[], [], closed.map((c) => c.v), [cur.v]],
    };
    const caps = [LIVE_POINTS, 1, LIVE_POINTS, 1], maxPoints = {};
    Object.keys(update).forEach((k) => { maxPoints[k] = caps; });
    window.Plotly.extendTraces(gd, update, [0, 1, 2, 3], maxPoints);
  }

  function subjectOf(meta) {
    return meta.ticker || meta.device_id + " " + meta.metric;
  }

  // The kept points of a graph's traces still showing their subject, after each trace's last
  // point (the graph may have been drawn again since: another range, another variable value).
  function ready(gd, traces) {
    const found = { x: [], y: [], indices: [] };
    if (!gd || !gd.data) return found;
    Object.keys(traces).forEach((key) => {
      const i = Number(key), held = traces[key], trace = gd.data[i];
      if (!trace || !trace.meta || typeof trace.meta !== "object") return;
      if (subjectOf(trace.meta) !== held.subject) return;
      const x = trace.x || [];
      const after = x.length ? String(x[x.length - 1]) : "";
      const keep = held.x.map((_, k) => k).filter((k) => held.x[k] > after);
      if (!keep.length) return;
      found.x.push(keep.map((k) => held.x[k]));
      found.y.push(keep.map((k) => held.y[k]));
      found.indices.push(i);
    });
    return found;
  }

  // A batch's new points per subject: "device metric" (telemetry) or "ticker" (price ticks).
  function pointsOf(batch) {
    const points = {};
    const put = (key, x, y) => {
      const p = points[key] || (points[key] = { x: [], y: [] });
      p.x.push(x);
      p.y.push(y);
    };
    for (const ev of batch.events) {
      if (ev.kind === "telemetry") {
        for (const r of ev.data.readings) {
          const t = shared.wall(r.time);
          for (const m of Object.keys(r.values)) put(ev.data.device_id + " " + m, t, r.values[m]);
        }
      } else if (ev.kind === "price") {
        for (const tick of ev.data.ticks) put(ev.data.ticker, shared.wall(tick.time), tick.price);
      }
    }
    return points;
  }

  // Tables drawn from their data (panels.py `drawn_table`): one Dash component a table, its
  // cells text nodes (a device name never becomes markup), a colour through the CSSOM. Drawn
  // when Dash puts one in the page or changes its data (an observer, as Dash has no hook after
  // it renders); a click on a sortable header sorts by that column, again: the other way.
  function drawTable(holder) {
    const text = holder.getAttribute("data-table");
    if (holder.tickwireDrawn === text) return;
    holder.tickwireDrawn = text;
    let spec;
    try { spec = JSON.parse(text); } catch (e) { return; }
    const table = document.createElement("table");
    table.className = spec.extra ? "tw-table " + spec.extra : "tw-table";
    const head = table.createTHead().insertRow();
    const order = holder.tickwireSort;
    spec.head.forEach((name, i) => {
      const th = document.createElement("th");
      th.textContent = name;
      if (spec.sortable) {
        th.dataset.column = String(i);
        th.className = "board-sortable";
        if (order && order.column === i) th.dataset.sorted = order.down ? "down" : "up";
      }
      head.appendChild(th);
    });
    const body = table.createTBody();
    sorted(spec.rows, order).forEach((cells) => {
      const tr = body.insertRow();
      cells.forEach((cell) => {
        const td = tr.insertCell();
        td.textContent = cell.t;
        if (cell.c) td.style.color = cell.c;
        if (cell.k) td.className = cell.k;
      });
    });
    holder.replaceChildren(table);
  }

  // Rows by a column: its cells' values (`v`; none last), else their text; as sent without.
  function sorted(rows, order) {
    if (!order) return rows;
    const i = order.column, sign = order.down ? -1 : 1;
    const key = (row) => (row[i] && "v" in row[i] ? row[i].v : row[i] && row[i].t);
    return rows.slice().sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1;
      if (y === null || y === undefined) return -1;
      if (typeof x === "number" && typeof y === "number") return sign * (x - y);
      return sign * String(x).localeCompare(String(y), undefined, { numeric: true });
    });
  }

  function drawTables() {
    document.querySelectorAll("div.board-table[data-table]").forEach(drawTable);
  }
  new MutationObserver(drawTables).observe(document.documentElement, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-table"],
  });
  document.addEventListener("click", (event) => {
    const th = event.target.closest && event.target.closest("div.board-table th[data-column]");
    if (!th) return;
    const holder = th.closest("div.board-table");
    const column = Number(th.dataset.column), was = holder.tickwireSort;
    holder.tickwireSort = { column: column, down: !!(was && was.column === column && !was.down) };
    holder.tickwireDrawn = null;
    drawTable(holder);
  });

  // Unsaved changes: a reload or a closed tab asks (beforeunload), and so does a link inside
  // the app (Dash Pages navigates without unloading).
  window.addEventListener("beforeunload", (event) => {
    if (dirty && location.pathname.startsWith("/d/")) { event.preventDefault(); event.returnValue = ""; }
  });
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[href]");
    if (!link || !dirty || !location.pathname.startsWith("/d/")) return;
    if (window.confirm("This dashboard has unsaved changes. Leave without saving?")) {
      dirty = false;
    } else {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Drag a panel by its ⠿ handle, resize it by its ◢ corner (edit mode): the panel follows the
  // pointer, and on release the move in whole grid cells goes to the `board-drag` store, which
  // Python applies to the working copy (kept inside the 24 columns).
  document.addEventListener("pointerdown", (down) => {
    const handle = down.target.closest && down.target.closest(".board-drag, .board-resize");
    if (!handle) return;
    const panel = handle.closest(".board-panel");
    const grid = panel && panel.parentElement;
    if (!grid) return;
    down.preventDefault();
    const resize = handle.classList.contains("board-resize");
    const column = (grid.clientWidth - GAP_PX * (COLUMNS - 1)) / COLUMNS + GAP_PX;
    const row = ROW_PX + GAP_PX;
    const width = panel.offsetWidth, height = panel.offsetHeight;
    panel.classList.add("board-moving");
    const follow = (move) => {
      const dx = move.clientX - down.clientX, dy = move.clientY - down.clientY;
      if (resize) {
        panel.style.width = Math.max(40, width + dx) + "px";
        panel.style.height = Math.max(30, height + dy) + "px";
      } else {
        panel.style.transform = `translate(${dx}px, ${dy}px)`;
      }
    };
    const release = (up) => {
      document.removeEventListener("pointermove", follow);
      document.removeEventListener("pointerup", release);
      panel.classList.remove("board-moving");
      panel.style.transform = panel.style.width = panel.style.height = "";
      const dx = Math.round((up.clientX - down.clientX) / column);
      const dy = Math.round((up.clientY - down.clientY) / row);
      if (!dx && !dy) return;
      // Handed to Dash by a click on a hidden button (`dropped`, below): a `set_props` from
      // outside a callback sometimes never reached the store's callbacks.
      pending = { panel: JSON.parse(panel.id).panel, dx: dx, dy: dy, resize: resize, at: Date.now() };
      const go = document.getElementById("board-drag-go");
      if (go) go.click();
    };
    document.addEventListener("pointermove", follow);
    document.addEventListener("pointerup", release);
  });

  // dcc.Graph resizes each chart twice once it is drawn (at its first draw, and at its
  // ResizeObserver's first call, 50 ms later): each a Plotly `relayout` (autosize: the layout's
  // defaults again) and a `relayoutData` handed to Dash (which runs `zoom`), ~110–170 ms of main
  // thread for /d/fleet's charts (docs/dashboard.md). A dashboard's chart is drawn at its grid
  // cell's size already (its div is the cell's height, the width is the div's), so a resize to
  // the size it has is skipped; one to another size (a window resized, a panel dragged by its
  // corner) is Plotly's as before. Plotly's own window listener does not go through here.
  function drawnAtSize(gd) {
    const full = gd._fullLayout;
    if (!full) return false;
    const style = window.getComputedStyle(gd);
    const width = parseFloat(style.width), height = parseFloat(style.height);
    // Plotly's plotAutoSize: a size within 1 px of the drawn one is unchanged.
    return Math.abs(full.width - width) <= 1 && Math.abs(full.height - height) <= 1;
  }

  // Looked at in the next frame, not at the call: a chart's first resize is asked for between
  // the drawing of one chart and the next, where reading a size would force a layout each time.
  // plotly.js is a deferred script (dashboard/browser.py `index`): there by DOMContentLoaded.
  document.addEventListener("DOMContentLoaded", () => {
    const plots = window.Plotly && window.Plotly.Plots;
    if (!plots || plots.resize.tickwire) return;
    const resize = plots.resize;
    plots.resize = function (gd) {
      const div = typeof gd === "string" ? document.getElementById(gd) : gd;
      if (!div || !div.closest || !div.closest(".board-grid")) return resize.apply(this, arguments);
      const args = arguments;
      return new Promise((resolve) => {
        requestAnimationFrame(() => resolve(drawnAtSize(div) ? div : resize.apply(plots, args)));
      });
    };
    plots.resize.tickwire = true;
  });

  window.tickwire_direct = Object.assign({}, window.tickwire_direct, { board: keep });

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    boards: {
      dropped(_clicks) {
        const drag = pending;
        pending = null;
        return drag || shared.noUpdate();
      },

      // Live points (Input the board-flush interval; Output ALL board-graph extendData): the
      // stream's points, kept per time-series trace by `keep` (outside Dash; a trace's `meta`
      // names its device and metric, or ticker: dashboard/boards/panels.py), extend each graph
      // at each `refresh` in one extendData, in place: no re-fetch, no re-render. A redraw per
      // batch (4 a second) or per second kept the main thread busy on the 12-panel fleet
      // dashboard (docs/dashboard.md). Graphs not drawn yet are left alone (extendData on an
      // empty plot leaves it empty for good, docs/dashboard.md).
      live(_flush) {
        const outs = window.dash_clientside.callback_context.outputs_list;
        const graphs = kept.graphs;
        kept.graphs = {};
        return outs.map((o) => {
          const traces = graphs[String(o.id.panel)];
          const p = traces ? ready(shared.plot(o.id), traces) : null;
          if (!p || !p.indices.length) return shared.noUpdate();
          return [{ x: p.x, y: p.y }, p.indices, LIVE_POINTS];
        });
      },

      // While live, the intervals at the dashboard's `refresh` ("30s", "1m", "2h"; else the
      // config's, boards.DEFAULT_REFRESH_S): [tick disabled, its ms, flush disabled, its ms].
      intervals(timerange, model) {
        const refresh = (model || {}).refresh;
        let seconds = shared.config.boards.defaultRefreshS;
        const found = typeof refresh === "string" && /^([0-9]+)([smh])$/.exec(refresh);
        if (found) seconds = Math.max(1, Number(found[1]) * { s: 1, m: 60, h: 3600 }[found[2]]);
        const live = !!(timerange || {}).live;
        return [!live, seconds * 1000, !live, seconds * 1000];
      },

      // edits.py `stored`: the model without `meta`, as the JSON field shows it.
      json(model, _edit) {
        if (!model) return "";
        const stored = Object.assign({}, model);
        delete stored.meta;
        return JSON.stringify(stored, null, 2);
      },

      // At load: the grid's width (kept for the next load, tickwire_shared.rememberWidth). The
      // page's layout drew the panels at `width` for the range `drawn` (board.py `_view`):
      // within config.boards.widthSlackPx of that and for the same range, they stay as drawn;
      // else this width draws them again (render).
      pageWidth(_uid, width, drawn, timerange) {
        const grid = document.querySelector(".board-grid") || document.querySelector(".tw-main");
        const measured = grid ? grid.clientWidth : window.innerWidth - 32;
        shared.rememberWidth(measured);
        const now = timerange || {};
        const same = drawn && ["range", "start", "end", "live", "tz"].every(
          (k) => (drawn[k] ?? null) === (now[k] ?? null));
        if (same && width && Math.abs(measured - width) <= shared.config.boards.widthSlackPx) {
          return shared.noUpdate();
        }
        return measured;
      },

      // `?var-<name>=<value>` (one per value of a multi variable), other parameters kept.
      varsToUrl(values, ids, search) {
        const q = new URLSearchParams(search || "");
        ids.forEach((id, i) => {
          const key = "var-" + id.name;
          q.delete(key);
          const value = values[i];
          (Array.isArray(value) ? value : value == null ? [] : [value]).forEach((v) => q.append(key, v));
        });
        const next = "?" + q.toString();
        return next === search ? shared.noUpdate() : next;
      },

      // A zoom on any time panel is the page's range (as Grafana): from/to in the address
      // (tickwire.zoomRange), so every panel re-fetches that range at its own width; a
      // double-click goes back. Plots whose x axis is not time (bar, gauge) are left alone.
      zoom(relayouts, search) {
        const ctx = window.dash_clientside.callback_context;
        const fired = ctx.triggered.length ? ctx.triggered[0].prop_id.split(".relayoutData")[0] : null;
        if (!fired) return shared.noUpdate();
        const id = JSON.parse(fired);
        const relayout = relayouts[ctx.inputs_list[0].findIndex((i) => i.id.panel === id.panel)];
        const gd = shared.plot(id);
        if (!relayout || !gd || !gd._fullLayout || gd._fullLayout.xaxis.type !== "date") {
          return shared.noUpdate();
        }
        const tickwire = window.dash_clientside.tickwire;
        if (relayout["xaxis.autorange"]) return tickwire.zoomRange({ reset: true }, search);
        let range = relayout["xaxis.range"];
        if (!range && "xaxis.range[0]" in relayout) range = [relayout["xaxis.range[0]"], relayout["xaxis.range[1]"]];
        if (!range) return shared.noUpdate();
        const at = (v) => (typeof v === "number" ? shared.wall(v) : String(v));
        return tickwire.zoomRange({ start: at(range[0]), end: at(range[1]) }, search);
      },

      // The toolbar shows while editing; a viewer (not the owner, or provisioned) gets no Edit.
      editing(clicks, model) {
        if (model) {
          const text = JSON.stringify(Object.assign({}, model, { meta: null }));
          if (!saved || saved.uid !== model.uid || saved.version !== model.version) {
            saved = { uid: model.uid, version: model.version, text: text };
          }
          dirty = text !== saved.text;
        }
        const canEdit = !!(model && model.meta && model.meta.can_edit);
        const on = canEdit && (clicks || 0) % 2 === 1;
        return [
          { display: on ? "block" : "none" },
          on ? "Done" : "Edit",
          { display: canEdit ? "inline-block" : "none" },
        ];
      },
    },
  });
})();
