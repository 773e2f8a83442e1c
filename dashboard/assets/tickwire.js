/* tickwire dashboard, browser side: the frame's URL state, login/logout, and the live stream.
 *
 * Live data never goes through Python: one EventSource per page (`follow`) collects events
 * and hands them to Dash in batches (every FLUSH_MS) through the `live-events` store; pages'
 * clientside callbacks turn a batch into `extendData` for their charts.
 */
(function () {
  "use strict";
  const shared = window.tickwire_shared;
  const FLUSH_MS = 250;
  const KINDS = shared.config.streamKinds;
  const RANGES = shared.config.ranges;
  const DEFAULT_RANGE = shared.config.defaultRange;

  // What a refused sign-up tells the user (the API's stable codes, docs/api.md).
  async function signupError(response) {
    if (response.status === 429) return "Too many sign-ups from this address: try again later.";
    let error = {};
    try { error = (await response.json()).error || {}; } catch (_) { /* not JSON */ }
    if (error.code === "register_user_already_exists") return "This email has an account already: log in.";
    if (error.code === "register_invalid_password") return error.message || "Choose a longer password.";
    if (response.status === 422) return "Enter a valid email address.";
    return `Sign-up failed (HTTP ${response.status}).`;
  }

  const live = {
    source: null,
    key: null,
    pending: [],
    timer: null,
    seq: 0,
    resets: 0,
    status: "",

    open(filter) {
      const tickers = (filter && filter.tickers) || [];
      const devices = (filter && filter.devices) || [];
      const kinds = (filter && filter.kinds) || [];
      const portfolios = (filter && filter.portfolios) || [];
      const key = JSON.stringify([tickers, devices, kinds, portfolios]);
      // A page that handles its events itself (window.tickwire_direct[name]) gets them
      // without a Dash store update per batch.
      const direct = (filter && filter.direct) || null;
      if (this.source && this.key === key) { this.direct = direct; return; }
      this.close();
      this.direct = direct;
      if (!tickers.length && !devices.length && !portfolios.length && !(filter && filter.all)) return;
      const params = new URLSearchParams();
      if (tickers.length) params.set("tickers", tickers.join(","));
      if (devices.length) params.set("devices", devices.join(","));
      if (kinds.length) params.set("kinds", kinds.join(","));
      if (portfolios.length) params.set("portfolios", portfolios.join(","));
      this.key = key;
      const source = new EventSource("/api/stream?" + params.toString(), { withCredentials: true });
      this.source = source;
      KINDS.forEach((kind) => source.addEventListener(kind, (e) => this.push(kind, e)));
      source.addEventListener("reset", () => {
        this.resets += 1;
        window.dash_clientside.set_props("live-reset", { data: this.resets });
      });
      source.onopen = () => this.setStatus("live");
      source.onerror = () => this.setStatus(source.readyState === 2 ? "offline" : "reconnecting");
    },

    close() {
      this.direct = null;
      if (this.source) this.source.close();
      this.source = null;
      this.key = null;
      this.pending = [];
      this.setStatus("");
    },

    push(kind, e) {
      this.pending.push({ kind: kind, id: Number(e.lastEventId), data: JSON.parse(e.data) });
      if (this.timer === null) this.timer = setTimeout(() => this.flush(), FLUSH_MS);
    },

    flush() {
      this.timer = null;
      if (!this.pending.length) return;
      const events = this.pending;
      this.pending = [];
      this.seq += 1;
      const batch = { seq: this.seq, events: events };
      const handler = this.direct && (window.tickwire_direct || {})[this.direct];
      if (handler) handler(batch);
      else window.dash_clientside.set_props("live-events", { data: batch });
    },

    setStatus(status) {
      this.status = status;
      const el = document.getElementById("stream-status");
      if (el) {
        el.textContent = status ? "● " + status : "";
        el.className = "tw-stream " + status;
      }
    },
  };

  function isoLocal(value) {
    // "YYYY-MM-DD HH:MM" in the page's zone → ISO UTC; "" → null
    return value ? shared.fromWall(value) : null;
  }

  function toLocalInput(iso) {
    // Minutes, and the seconds when there are any (a zoom's range has them).
    const text = shared.localTime(iso, true);
    return text.endsWith(":00") ? text.slice(0, 16) : text;
  }

  function fromSearch(search) {
    const q = new URLSearchParams(search || "");
    const start = q.get("from");
    const end = q.get("to");
    let range = q.get("range") || (start ? "custom" : DEFAULT_RANGE);
    if (!RANGES.includes(range)) range = DEFAULT_RANGE;
    return { range: range, start: start, end: end, live: q.get("live") !== "0", q: q };
  }

  window.tickwire = { live: live };

  // The grid width a board would have, for the server (tickwire_shared.rememberWidth): as the
  // page starts (before Dash asks for the page's layout, which a board draws at it) and after
  // the window is resized.
  let resized = null;
  shared.rememberWidth();
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => shared.rememberWidth(), 250);
  });

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    tickwire: {
      syncTimeRange(search, range, from, to, liveValue, refreshClicks, tzClicks, current) {
        const ctx = window.dash_clientside.callback_context;
        const fired = ctx.triggered.map((t) => t.prop_id.split(".")[0]);
        let state;
        const asked = new URLSearchParams(search || "");
        if (!current || !fired.length || fired.includes("")) {
          state = fromSearch(search);
        } else if (fired.includes("url")) {
          // Another page: its link's range wins; without one the current range carries over.
          state = asked.has("range") || asked.has("from") ? fromSearch(search)
            : { range: current.range, start: current.start, end: current.end,
                live: current.wantLive, q: asked };
        } else {
          // Only the control that fired changes the state (a control echoing a value the
          // callback itself set must not undo another one).
          state = { range: current.range, start: current.start, end: current.end,
                    live: current.wantLive, q: new URLSearchParams(search || "") };
          if (fired.includes("range") && range !== current.range) {
            state.range = range;
            if (range === "custom") {
              state.end = new Date().toISOString();
              state.start = new Date(Date.now() - 3600e3).toISOString();
            } else { state.start = null; state.end = null; }
          }
          if (fired.includes("range-from") && isoLocal(from)) state.start = isoLocal(from);
          if (fired.includes("range-to")) state.end = isoLocal(to);
          if (fired.includes("live")) {
            state.live = (liveValue || []).includes("on");
            if (state.live && state.range === "custom") {
              // Live means "up to now": back to the range before a zoom, or the default.
              const back = window.tickwire.beforeZoom;
              window.tickwire.beforeZoom = null;
              state.range = back && back.range && RANGES.includes(back.range) ? back.range : DEFAULT_RANGE;
              state.start = null; state.end = null;
            }
          }
        }
        // One time zone for the page: the browser's, or UTC (`tz=utc`); the button flips it.
        let utc = new URLSearchParams(search || "").get("tz") === "utc";
        if (fired.includes("tz")) utc = !utc;
        if (utc) state.q.set("tz", "utc"); else state.q.delete("tz");
        const tz = utc ? "UTC" : shared.browserZone;
        shared.setZone(tz);
        // Other parameters (a page's own, e.g. `ticker`) keep their place: `set` replaces in
        // position, so an unchanged view gives the same query string.
        const q = state.q;
        if (state.range === "custom") {
          q.delete("range"); q.set("from", state.start); q.set("to", state.end || "");
        } else {
          q.set("range", state.range); q.delete("from"); q.delete("to");
        }
        if (state.live) q.delete("live"); else q.set("live", "0");
        const newSearch = "?" + q.toString();
        const data = {
          range: state.range,
          start: state.range === "custom" ? state.start : null,
          end: state.range === "custom" ? (state.end || null) : null,
          live: state.live && state.range !== "custom",
          wantLive: state.live,
          refresh: refreshClicks || 0,
          tz: tz,
        };
        const same = current && JSON.stringify(current) === JSON.stringify(data);
        return [
          state.range,
          toLocalInput(state.start),
          toLocalInput(state.end),
          state.live && state.range !== "custom" ? ["on"] : [],  // what is: custom is not live
          newSearch === search || window.location.pathname === "/login" || window.tickwire.leaving
            ? shared.noUpdate() : newSearch,
          same ? shared.noUpdate() : data,
          { display: state.range === "custom" ? "flex" : "none" },
          "times in " + (utc ? "UTC" : tz),
          "Every time on this page is in " + (utc ? "UTC" : tz + ", this browser's zone") +
            ". Click for " + (utc ? shared.browserZone + " (this browser's zone)" : "UTC") + ".",
        ];
      },

      // A chart's relayoutData → the x range it now shows (UTC wall clock, frame.wall) and its
      // plot width in pixels (so the API can pick a resolution for that many points); reset for
      // autorange; anything else (autosize, a y-only zoom) no update, so no re-fetch.
      zoom(relayout) {
        const ctx = window.dash_clientside.callback_context;
        const id = ctx.inputs_list[0].id;
        if (!relayout) return shared.noUpdate();
        const gd = shared.plot(id);
        const width = gd && gd._fullLayout ? Math.round(gd._fullLayout._size.w) : null;
        if (relayout["xaxis.autorange"]) return { reset: true, width: width };
        let range = relayout["xaxis.range"];
        if (!range && "xaxis.range[0]" in relayout) range = [relayout["xaxis.range[0]"], relayout["xaxis.range[1]"]];
        if (!range) return shared.noUpdate();
        const at = (v) => (typeof v === "number" ? shared.wall(v) : String(v));
        return { start: at(range[0]), end: at(range[1]), width: width };
      },

      // A zoom (from `zoom`) → the page's range: from/to in the URL, so the bar (a custom
      // range, not live), the export links and a shared link all follow it. A reset
      // (double-click) goes back to the range the first zoom left; after a link, nothing.
      zoomRange(zoom, search) {
        if (!zoom) return shared.noUpdate();
        const q = new URLSearchParams(search || "");
        const keys = ["range", "from", "to"];
        if (zoom.reset) {
          const back = window.tickwire.beforeZoom;
          if (!back) return shared.noUpdate();
          window.tickwire.beforeZoom = null;
          keys.forEach((k) => { if (back[k] === null) q.delete(k); else q.set(k, back[k]); });
        } else {
          const start = shared.fromWall(zoom.start), end = shared.fromWall(zoom.end);
          if (!start || !end || start >= end) return shared.noUpdate();  // a degenerate zoom
          if (!window.tickwire.beforeZoom) {
            const back = {};
            keys.forEach((k) => { back[k] = q.get(k); });
            window.tickwire.beforeZoom = back;
          }
          q.delete("range"); q.set("from", start); q.set("to", end);
        }
        return "?" + q.toString();
      },

      follow(filters, timerange) {
        const filter = (filters || [])[0];
        if (filter && (!timerange || timerange.live)) live.open(filter);
        else live.close();
        return shared.noUpdate();
      },

      go(href) {
        if (href) {
          window.tickwire.leaving = true;  // no address-bar updates may cancel the navigation
          live.close();
          window.location.assign(href);
        }
        return shared.noUpdate();
      },

      // A page's `going` store (frame.going) → `redirect`.
      goTo(targets) {
        return (targets || []).find(Boolean) || shared.noUpdate();
      },

      async logout() {
        window.tickwire.leaving = true;  // no address-bar updates may cancel the navigation
        live.close();
        await fetch("/auth/cookie/logout", { method: "POST", credentials: "same-origin" });
        window.location.assign("/login");
        return shared.noUpdate();
      },

      async login(clicks, submits, email, password, search) {
        // Dash fires this when the page's layout is inserted (prevent_initial_call does not
        // hold for a page's components): nothing was submitted yet, so nothing to say.
        if (!clicks && !submits) return [shared.noUpdate(), shared.noUpdate()];
        if (!email || !password) return ["Enter your email and password.", shared.noUpdate()];
        const body = new URLSearchParams({ username: email, password: password });
        const response = await fetch("/auth/cookie/login", { method: "POST", body: body, credentials: "same-origin" });
        if (response.status === 429) {
          const minutes = Math.ceil(Number(response.headers.get("Retry-After") || 60) / 60);
          return [`Too many failed logins: try again in ${minutes} minute${minutes === 1 ? "" : "s"}.`, shared.noUpdate()];
        }
        if (response.status >= 300) {
          return ["Wrong email or password.", shared.noUpdate()];
        }
        const next = new URLSearchParams(search || "").get("next");
        return ["", next && next.startsWith("/") && !next.startsWith("//") ? next : shared.config.home];
      },

      // Sign up (`POST /auth/register`), log in with the cookie, then the welcome page.
      async signup(clicks, submits, email, password, again) {
        if (!clicks && !submits) return [shared.noUpdate(), shared.noUpdate()];
        if (!email || !password) return ["Enter your email and a password.", shared.noUpdate()];
        if (password !== again) return ["The two passwords differ.", shared.noUpdate()];
        const response = await fetch("/auth/register", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ email: email, password: password }),
          credentials: "same-origin",
        });
        if (response.status !== 201) return [await signupError(response), shared.noUpdate()];
        const body = new URLSearchParams({ username: email, password: password });
        const login = await fetch("/auth/cookie/login", { method: "POST", body: body, credentials: "same-origin" });
        if (login.status >= 300) return ["Signed up, but the login failed: log in.", "/login"];
        return ["", shared.config.welcome];
      },
    },
  });
})();
