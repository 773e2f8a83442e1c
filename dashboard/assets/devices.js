/* tickwire devices pages, browser side: live fleet cards and live device charts.
 *
 * Batches of stream events arrive in the `live-events` store (assets/tickwire.js); these
 * callbacks turn them into card text and `extendData` for the charts (capped), never going
 * through Python. Chart times are UTC wall clock, like the server's (frame.wall).
 */
(function () {
  "use strict";
  const shared = window.tickwire_shared;
  const SPARK_POINTS = shared.config.devices.sparkPoints;
  const SPARK_COLOR = shared.config.devices.sparkColor;
  const SPARK_EVERY_MS = 2000;
  const CHART_POINTS = 5000;
  const NO = shared.noUpdate;
  const wall = shared.wall;
  const UNITS = shared.config.units || {};

  function labelled(metric) {
    return UNITS[metric] ? metric + " (" + UNITS[metric] + ")" : metric;
  }

  function clock(iso) {
    // In the page's zone like the charts' axes (frame.wall), so a card and its chart agree.
    return shared.localTime(iso, true).slice(11);
  }

  function ago(iso) {
    if (!iso) return "never seen";
    const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    const text = s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min" :
      s < 86400 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
    return "last seen " + clock(iso) + " (" + text + " ago)";
  }

  function formatValues(values) {
    const names = Object.keys(values || {}).sort();
    if (!names.length) return "no telemetry yet";
    return names.map((m) => m + " " + Number(values[m]).toFixed(2) +
      (UNITS[m] ? " " + UNITS[m] : "")).join(" · ");
  }

  function lastTime(graphId) {
    // The latest x already on a chart, so history and live points never overlap.
    const gd = shared.plot(graphId);
    const x = gd && gd.data && gd.data[0] && gd.data[0].x;
    return x && x.length ? String(x[x.length - 1]) : "";
  }

  const fleet = { state: {}, version: null, view: { search: "", status: "all", sort: "id" } };

  // Search, status filter and sort: applied to the cards in place (display and CSS order),
  // again whenever a status changes live.
  function applyView() {
    const view = fleet.view;
    const needle = (view.search || "").trim().toLowerCase();
    const ids = Object.keys(fleet.state);
    const rank = { OFFLINE: 0, UNKNOWN: 1, ONLINE: 2 };
    const seen = (st) => (st.last_seen ? new Date(st.last_seen).getTime() : 0);
    const order = ids.slice().sort((a, b) => {
      const sa = fleet.state[a], sb = fleet.state[b];
      if (view.sort === "status" && rank[sa.status] !== rank[sb.status]) return rank[sa.status] - rank[sb.status];
      if (view.sort === "seen" && seen(sa) !== seen(sb)) return seen(sa) - seen(sb);
      return a < b ? -1 : a > b ? 1 : 0;
    });
    let shown = 0;
    order.forEach((id, i) => {
      const st = fleet.state[id];
      const card = elementOf("devices-card", id);
      const match = (!needle || id.toLowerCase().includes(needle) ||
        String(st.name || "").toLowerCase().includes(needle)) &&
        (view.status === "all" || !view.status || st.status === view.status);
      if (match) shown += 1;
      if (card) {
        setProp(card.style, "display", match ? "" : "none");
        setProp(card.style, "order", String(i));
      }
    });
    setProp(document.getElementById("devices-shown"), "textContent",
      shown === ids.length ? "" : shown + " of " + ids.length + " shown");
  }

  function addReading(st, r) {
    Object.assign(st.values, r.values);
    if (!st.last_seen || r.time > st.last_seen) st.last_seen = r.time;
    if (!st.spark) st.spark = Object.keys(r.values).sort()[0];
    if (st.spark_t.length && new Date(r.time).getTime() <= st.spark_t[st.spark_t.length - 1]) return;
    if (!(st.spark in r.values)) return;
    st.spark_t.push(new Date(r.time).getTime());
    st.spark_y.push(r.values[st.spark]);
    const over = st.spark_t.length - SPARK_POINTS;
    if (over > 0) { st.spark_t.splice(0, over); st.spark_y.splice(0, over); }
  }

  function elementOf(type, device) {
    return document.getElementById(JSON.stringify({ device: device, type: type }));
  }

  function setProp(el, prop, value) {
    if (el && el[prop] !== value) el[prop] = value;
  }

  function drawCard(id, st, now) {
    const dot = elementOf("devices-dot", id);
    setProp(dot, "className", "tw-dot " + st.status);
    setProp(dot, "title", st.status);
    setProp(elementOf("devices-values", id), "textContent", formatValues(st.values));
    setProp(elementOf("devices-seen", id), "textContent", ago(st.last_seen));
    drawSpark(id, st, now);
  }

  function drawSpark(id, st, now) {
    // A new sparkline image costs the browser a decode and a paint: at most one per card
    // every SPARK_EVERY_MS (the clock draws what is left over). Measured in one run, 50
    // devices live (window.tickwire_spark_every_ms overrides it for such A/B runs): main
    // thread busy 47 % and 57 % redrawing on every event, 34 % and 46 % at 2 s.
    const every = window.tickwire_spark_every_ms === undefined ? SPARK_EVERY_MS : window.tickwire_spark_every_ms;
    if (now - (st.spark_drawn || 0) < every) { st.spark_due = true; return; }
    st.spark_drawn = now;
    st.spark_due = false;
    const spark = elementOf("devices-spark", id);
    const src = sparkSvg(st.spark_t, st.spark_y, st.gap_ms);
    if (spark && spark.getAttribute("src") !== src) spark.setAttribute("src", src);
    setProp(spark, "title", st.spark ? labelled(st.spark) + " (sparkline)" : "");
    let label = "";
    if (st.spark && st.spark_y.length) {
      const lo = Math.min(...st.spark_y), hi = Math.max(...st.spark_y);
      label = labelled(st.spark) + " · " + lo.toFixed(1) + " – " + hi.toFixed(1);
    } else if (st.spark) label = labelled(st.spark);
    setProp(elementOf("devices-spark-label", id), "textContent", label);
  }

  function drawCount(state) {
    const all = Object.values(state);
    const online = all.filter((st) => st.status === "ONLINE").length;
    setProp(document.getElementById("devices-count"), "textContent",
      all.length ? online + " of " + all.length + " online" : "");
  }

  // Where a line breaks: after a pause longer than the device's offline timeout (an
  // outage), so no line is drawn across it. Index ranges [from, to).
  function segments(ts, gapMs) {
    const out = [];
    let from = 0;
    for (let i = 1; i <= ts.length; i++) {
      if (i === ts.length || ts[i] - ts[i - 1] > gapMs) { out.push([from, i]); from = i; }
    }
    return out;
  }

  function sparkSvg(ts, ys, gapMs) {
    // A sparkline as an SVG image: 50 cards cost no more than 50 small images; one polyline
    // per stretch without an outage (a lone reading between two outages: a dot).
    const W = 240, H = 48, P = 2;
    if (!ts || ts.length < 2) {
      return "data:image/svg+xml;utf8," + encodeURIComponent(
        `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}"></svg>`);
    }
    const all = shared.polyline(ts, ys, W, H, P).split(" ");
    const parts = segments(ts, gapMs || Infinity).map(([a, b]) => {
      if (b - a > 1) return `<polyline vector-effect="non-scaling-stroke" points="${all.slice(a, b).join(" ")}"/>`;
      const [x, y] = all[a].split(",");
      return `<circle cx="${x}" cy="${y}" r="1.5" fill="${SPARK_COLOR}"/>`;
    });
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">` +
      `<g fill="none" stroke="${SPARK_COLOR}" stroke-width="1.5">` +
      parts.join("") + "</g></svg>";
    return "data:image/svg+xml;utf8," + encodeURIComponent(svg);
  }

  // A batch of live events for the fleet grid, handed over by the stream manager
  // (tickwire.js) directly instead of through a Dash store: going through Dash cost the
  // page's main thread about 4× as much with 50 devices (bench/dashboard.py); only cards
  // whose device had events are redrawn.
  function fleetEvents(batch) {
    const touched = new Set();
    for (const ev of batch.events) {
      const st = fleet.state[ev.data.device_id];
      if (!st) continue;
      touched.add(ev.data.device_id);
      if (ev.kind === "device_status") {
        st.status = ev.data.status;
        if (ev.data.last_seen) st.last_seen = ev.data.last_seen;
      } else if (ev.kind === "telemetry") {
        for (const r of ev.data.readings) addReading(st, r);
      }
    }
    const now = Date.now();
    touched.forEach((id) => drawCard(id, fleet.state[id], now));
    if (touched.size) { drawCount(fleet.state); applyView(); }
  }

  window.tickwire_direct = Object.assign({}, window.tickwire_direct, { fleet: fleetEvents });

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.devices = {
    // Fleet grid: Inputs live-events, devices-state, devices-clock; Output a dummy store.
    // The cards are written straight into the DOM: Dash outputs for 5 × 50 wildcard
    // components cost the renderer most of a core (measured); these writes cost little.
    // Live events do not pass through Dash at all (fleetEvents, below); this callback takes
    // a new grid from the server and lets the clock refresh the "… ago" texts.
    fleet(initial, _tick) {
      const ctx = window.dash_clientside.callback_context;
      const fired = ctx.triggered.map((t) => t.prop_id.split(".")[0]);
      if (initial && initial.version !== fleet.version) {
        // A new grid from the server: start over from its state.
        fleet.version = initial.version;
        fleet.state = JSON.parse(JSON.stringify(initial.devices));
      }
      const all = fired.includes("devices-state");
      const now = Date.now();
      for (const [id, st] of Object.entries(fleet.state)) {
        if (all) drawCard(id, st, now);
        else {
          setProp(elementOf("devices-seen", id), "textContent", ago(st.last_seen));
          if (st.spark_due) drawSpark(id, st, now);
        }
      }
      if (all) { drawCount(fleet.state); applyView(); }
      return NO();
    },

    // Fleet grid: Inputs the view's controls, State the URL's query; Output the query with the
    // view (defaults left out). The sparkline's metric goes in once the user picks one (the
    // first value is the page's default choice).
    remember(search, status, sort, metric, current) {
      const q = new URLSearchParams(current || "");
      const put = (k, v, dflt) => { if (v && v !== dflt) q.set(k, v); else q.delete(k); };
      put("q", (search || "").trim(), "");
      put("status", status, "all");
      put("sort", sort, "id");
      if (metric && fleet.metric && metric !== fleet.metric) q.set("metric", metric);
      fleet.metric = metric || fleet.metric;
      const next = "?" + q.toString();
      return next === (current || "?") || (next === "?" && !current) ? NO() : next;
    },

    // Fleet grid: Inputs the search, status filter and sort; Output a dummy store.
    view(search, status, sort) {
      fleet.view = { search: search || "", status: status || "all", sort: sort || "id" };
      applyView();
      return NO();
    },

    // Device page charts: Input live-events, State device-id; Output (ALL) extendData.
    charts(batch, deviceId) {
      const ctx = window.dash_clientside.callback_context;
      const outs = ctx.outputs_list;
      if (!batch) return outs.map(() => NO());
      const points = {};
      for (const ev of batch.events) {
        if (ev.kind !== "telemetry" || ev.data.device_id !== deviceId) continue;
        for (const r of ev.data.readings) {
          const t = wall(r.time);
          for (const m of Object.keys(r.values)) {
            const p = points[m] || (points[m] = { x: [], y: [] });
            p.x.push(t);
            p.y.push(r.values[m]);
          }
        }
      }
      return outs.map((o) => {
        const p = points[o.id.metric];
        if (!p) return NO();
        const after = lastTime(o.id);
        const keep = p.x.map((t, i) => i).filter((i) => p.x[i] > after);
        if (!keep.length) return NO();
        return [{ x: [keep.map((i) => p.x[i])], y: [keep.map((i) => p.y[i])] }, [0], CHART_POINTS];
      });
    },

    // Device page head and alerts: Inputs live-events, State device-id; Outputs dot
    // className, last seen, alerts bump.
    device(batch, deviceId, bump) {
      let dot = NO(), seen = NO(), alerts = NO();
      if (!batch) return [dot, seen, alerts];
      for (const ev of batch.events) {
        const d = ev.data;
        if ((d.device_id || d.subject) !== deviceId) continue;
        if (ev.kind === "device_status") dot = "tw-dot " + d.status;
        if (ev.kind === "telemetry" && d.readings.length) seen = ago(d.readings[d.readings.length - 1].time);
        if (ev.kind === "alert") alerts = (bump || 0) + 1;
      }
      return [dot, seen, alerts];
    },

    // The width of the page the charts share (dashboard/devices/panels.py `plot_width` splits
    // it into columns), so the first fetch asks for about as many points as a plot is wide.
    plotWidth(_deviceId) {
      const main = document.querySelector(".tw-main");
      return (main ? main.clientWidth : window.innerWidth) - 32;
    },

    ago: ago,
  };
})();
