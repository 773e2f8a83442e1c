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
