/* tickwire dashboards (/d/<uid>), browser side: the page's width (each panel asks for about
 * as many points as it is wide), the variables in the address, the edit mode's toolbar.
 */
(function () {
  "use strict";
  const shared = window.tickwire_shared;

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    boards: {
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
