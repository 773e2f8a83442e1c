/* tickwire portfolio page, browser side: the page's stream follows the picked portfolio, its
 * `portfolio` events (the holdings route's totals, at most one a second) write the totals at
 * once and ask Python for the rows again (`portfolio-live`). The totals' keys come from the
 * outputs' ids (portfolio-total-<key>, dashboard/portfolio/view.py), never retyped here.
 */
(function () {
  "use strict";
  const shared = window.tickwire_shared;
  const noUpdate = shared.noUpdate;
  const PREFIX = "portfolio-total-";  // + a key of dashboard/portfolio/view.py TOTALS
  const SIGNED = ["unrealized_pnl", "day_change", "realized_pnl"];

  function money(value) {
    if (value === null || value === undefined) return "–";
    return Number(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    portfolio: {
      follow(pick, filter, search) {
        const q = new URLSearchParams(search || "");
        if (pick === null || pick === undefined) q.delete("portfolio");
        else q.set("portfolio", String(pick));
        const newSearch = "?" + q.toString();
        const next = Object.assign({}, filter || {}, { portfolios: pick === null || pick === undefined ? [] : [pick] });
        return [next, newSearch === search || window.tickwire.leaving ? noUpdate() : newSearch];
      },

      live(batch, pick, current, count) {
        if (!batch || pick === null || pick === undefined) return [noUpdate(), noUpdate()];
        let last = null;
        (batch.events || []).forEach((e) => {
          if (e.kind === "portfolio" && e.data.portfolio_id === pick) last = e.data;
        });
        if (!last) return [noUpdate(), noUpdate()];
        const totals = Object.assign({}, (current && current.portfolio_id === pick && current.totals) || {});
        Object.keys(last).forEach((k) => { if (k !== "portfolio_id" && k !== "time") totals[k] = last[k]; });
        return [{ portfolio_id: pick, totals: totals, time: last.time }, (count || 0) + 1];
      },

      // The value chart grows by each event's market value, at its time (live ranges only;
      // capped at twice the points the chart was loaded with).
      valueLive(batch, pick, timerange, points) {
        if (!batch || pick === null || pick === undefined || !timerange || !timerange.live) return noUpdate();
        const xs = [], ys = [];
        (batch.events || []).forEach((e) => {
          if (e.kind === "portfolio" && e.data.portfolio_id === pick && e.data.market_value !== null) {
            xs.push(shared.wall(e.data.time));
            ys.push(e.data.market_value);
          }
        });
        // Not before the loaded figure has its trace: extendData on an empty plot made the
        // figure that came after it never show (docs/dashboard.md).
        const gd = shared.plot("portfolio-value");
        if (!xs.length || !gd || !gd.data || !gd.data.length) return noUpdate();
        return [{ x: [xs], y: [ys] }, [0], 2 * ((points && points.points) || 1000)];
      },

      totals(data) {
        const outputs = window.dash_clientside.callback_context.outputs_list;
        const values = (data && data.totals) || {};
        return outputs.map((out) => {
          const key = out.id.slice(PREFIX.length);
          const value = values[key];
          if (out.property === "children") return money(value);
          const tone = SIGNED.includes(key) && value ? (value > 0 ? " tw-up" : " tw-down") : "";
          return "portfolio-total-value" + tone;
        });
      },

      points(timerange, pick) {
        const gd = shared.plot("portfolio-value");
        const width = gd && gd._fullLayout ? Math.round(gd._fullLayout._size.w) : 0;
        const el = document.getElementById("portfolio-value");
        const guess = el ? el.clientWidth - 64 : 0;
        return { points: Math.max(50, Math.min(2000, width || guess || 800)), key: JSON.stringify([timerange, pick]) };
      },
    },
  });
})();
