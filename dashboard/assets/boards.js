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

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    boards: {
      dropped(_clicks) {
        const drag = pending;
        pending = null;
        return drag || shared.noUpdate();
      },

      // Live points (Input live-events; Output ALL board-graph extendData): each time-series
      // trace (its `meta`: device and metric, or ticker; dashboard/boards/panels.py) gets the
      // batch's points after its last one, in place: no re-fetch, no re-render. Graphs without
      // such traces (bar, gauge, candles) and graphs not drawn yet (extendData on an empty plot
      // leaves it empty for good, docs/dashboard.md) are left alone.
      live(batch) {
        const outs = window.dash_clientside.callback_context.outputs_list;
        if (!batch || !batch.events) return outs.map(() => shared.noUpdate());
        const points = pointsOf(batch);
        return outs.map((o) => {
          const gd = shared.plot(o.id);
          if (!gd || !gd.data || !gd.data.length) return shared.noUpdate();
          const xs = [], ys = [], traces = [];
          gd.data.forEach((trace, i) => {
            const m = trace.meta;
            if (!m || typeof m !== "object") return;
            const p = points[m.ticker || m.device_id + " " + m.metric];
            if (!p) return;
            const x = trace.x || [];
            const after = x.length ? String(x[x.length - 1]) : "";
            const keep = p.x.map((_, k) => k).filter((k) => p.x[k] > after);
            if (!keep.length) return;
            xs.push(keep.map((k) => p.x[k]));
            ys.push(keep.map((k) => p.y[k]));
            traces.push(i);
          });
          return traces.length ? [{ x: xs, y: ys }, traces, LIVE_POINTS] : shared.noUpdate();
        });
      },

      pageWidth(_uid) {
        const grid = document.querySelector(".board-grid") || document.querySelector(".tw-main");
        return grid ? grid.clientWidth : window.innerWidth - 32;
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
