/* Helpers every page's browser side uses, and the constants Python sends (dashboard/browser.py).
 *
 * Named with a leading "_" so it loads first: Dash loads the assets in file-name order, and
 * the other files take `window.tickwire_shared` when they load.
 */
(function () {
  "use strict";
  const element = document.getElementById("tickwire-config");

  function noUpdate() { return window.dash_clientside.no_update; }

  // An instant (epoch ms or ISO with a zone) → "YYYY-MM-DD HH:MM:SS.fff" UTC, the charts' time
  // (plotly.js ignores zones; frame.wall on the server).
  function wall(instant) {
    return new Date(instant).toISOString().replace("T", " ").replace("Z", "");
  }

  // ISO → "YYYY-MM-DD HH:MM" (with ":SS" if `seconds`) in the browser's zone; "" for none.
  function localTime(iso, seconds) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    const pad = (n) => String(n).padStart(2, "0");
    const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    return seconds ? text + ":" + pad(d.getSeconds()) : text;
  }

  // The plotly graph div of a dcc.Graph, by its component id (a string, or a pattern-matching
  // id: Dash writes those as JSON with sorted keys); null when not on the page.
  function plot(id) {
    const key = typeof id === "string" ? id : JSON.stringify(id, Object.keys(id).sort());
    const el = document.getElementById(key);
    return el && (el.classList.contains("js-plotly-plot") ? el : el.querySelector(".js-plotly-plot"));
  }

  // A sparkline's SVG polyline points: xs and ys scaled into w × h, `pad` pixels kept free
  // above and below.
  function polyline(xs, ys, w, h, pad) {
    const x0 = xs[0], dx = xs[xs.length - 1] - x0 || 1;
    const lo = Math.min(...ys), dy = Math.max(...ys) - lo || 1;
    return xs.map((x, i) => ((x - x0) / dx * w).toFixed(1) + "," +
      (h - pad - (ys[i] - lo) / dy * (h - 2 * pad)).toFixed(1)).join(" ");
  }

  window.tickwire_shared = {
    config: element ? JSON.parse(element.textContent) : {},
    noUpdate: noUpdate,
    wall: wall,
    localTime: localTime,
    plot: plot,
    polyline: polyline,
  };
})();
