/* Helpers every page's browser side uses, and the constants Python sends (dashboard/browser.py).
 *
 * Named with a leading "_" so it loads first: Dash loads the assets in file-name order, and
 * the other files take `window.tickwire_shared` when they load.
 */
(function () {
  "use strict";
  const element = document.getElementById("tickwire-config");

  function noUpdate() { return window.dash_clientside.no_update; }

  // The page's one time zone (an IANA name): the browser's, or "UTC" (`&tz=utc`); set by the
  // frame (tickwire.js syncTimeRange), the same as Python's `frame.zone(timerange)`.
  const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  let zone = BROWSER_ZONE;
  let formatter = null;

  function setZone(name) {
    if (name !== zone) { zone = name; formatter = null; }
  }

  function fields(instant) {
    // An instant → {year, month, day, hour, minute, second, fractionalSecond} in the zone.
    if (!formatter) {
      formatter = new Intl.DateTimeFormat("en-CA", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3,
      });
    }
    const out = {};
    formatter.formatToParts(new Date(instant)).forEach((p) => { out[p.type] = p.value; });
    return out;
  }

  // An instant (epoch ms or ISO with a zone) → "YYYY-MM-DD HH:MM:SS.fff" in the page's zone,
  // the charts' time (plotly.js ignores zones; frame.wall on the server).
  function wall(instant) {
    const f = fields(instant);
    return `${f.year}-${f.month}-${f.day} ${f.hour}:${f.minute}:${f.second}.${f.fractionalSecond}`;
  }

  // A wall clock in the page's zone ("YYYY-MM-DD HH:MM[:SS]") → ISO UTC; null if unreadable.
  function fromWall(text) {
    const guess = Date.parse(String(text).trim().replace(" ", "T") + "Z");
    if (isNaN(guess)) return null;
    let t = guess;
    for (let i = 0; i < 2; i++) t = guess - (Date.parse(wall(t).replace(" ", "T") + "Z") - t);
    return new Date(t).toISOString();
  }

  // ISO → "YYYY-MM-DD HH:MM" (with ":SS" if `seconds`) in the page's zone; "" for none.
  function localTime(iso, seconds) {
    if (!iso) return "";
    if (isNaN(new Date(iso).getTime())) return "";
    const text = wall(iso);
    return seconds ? text.slice(0, 19) : text.slice(0, 16);
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

  const config = element ? JSON.parse(element.textContent) : {};

  // One tick (time t, price p, volume vol) into a live candle `cur` of interval iv on the API's
  // grid (config.gridOriginMs): in cur's bucket it updates cur in place and returns it; in a
  // later bucket (or with no cur) it returns the next candle, opened by the tick (the caller
  // closes cur); in an earlier bucket it is late and returns null (the next fetch has it).
  // markets.js' chart and boards.js' candlestick panels.
  function candleTick(cur, t, p, vol, iv) {
    const anchor = config.gridOriginMs;
    const b = anchor + Math.floor((t - anchor) / iv) * iv;
    if (!cur || b > cur.t) return { t: b, o: p, h: p, l: p, c: p, v: vol, last: t };
    if (b !== cur.t) return null;
    cur.h = Math.max(cur.h, p);
    cur.l = Math.min(cur.l, p);
    if (t >= cur.last) { cur.c = p; cur.last = t; }
    cur.v += vol;
    return cur;
  }

  // The width a board's grid has in this browser (px), kept in a cookie (config.boards
  // .widthCookie) for the server: a board's first answer fetches each panel at the resolution
  // its width needs (dashboard/boards `reported_width`). `px` given: the grid's own measure;
  // else the page's content box (`.tw-main` less its padding, the grid's width on a board),
  // or the window's less the usual padding before the frame is drawn.
  function rememberWidth(px) {
    let width = px;
    if (width == null) {
      const main = document.querySelector(".tw-main");
      if (main) {
        const style = getComputedStyle(main);
        width = main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      } else {
        width = document.documentElement.clientWidth - 32;
      }
    }
    width = Math.round(width);
    if (!(width > 0) || !config.boards) return;
    remember(config.boards.widthCookie, String(width));
  }

  // A cookie for the server's first answer of a page (not the login's: readable by scripts).
  function remember(name, value) {
    const secure = window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie = `${name}=${value}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
  }

  // This browser's zone, for the server (frame.ZONE_COOKIE): a page drawn in its first answer
  // shows its times in the zone the page will use. A name a cookie cannot hold as it is
  // (none in the IANA database) is left out: the server then takes UTC.
  if (config.zoneCookie && new RegExp(`^(?:${config.zoneName})$`).test(BROWSER_ZONE)) {
    remember(config.zoneCookie, BROWSER_ZONE);
  }

  window.tickwire_shared = {
    config: config,
    rememberWidth: rememberWidth,
    candleTick: candleTick,
    noUpdate: noUpdate,
    wall: wall,
    fromWall: fromWall,
    localTime: localTime,
    setZone: setZone,
    zone: () => zone,
    browserZone: BROWSER_ZONE,
    plot: plot,
    polyline: polyline,
  };
})();
