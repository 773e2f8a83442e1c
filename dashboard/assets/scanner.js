/* tickwire scanner page, browser side: the chosen window into the URL (`window=`, left out
 * when the default), the other parameters kept in place. The lists are polled by Python. */
(function () {
  "use strict";
  const shared = window.tickwire_shared;

  function address(value, search) {
    const q = new URLSearchParams(search || "");
    if (!value || value === shared.config.scanner.defaultWindow) q.delete("window");
    else q.set("window", value);
    const next = "?" + q.toString();
    return next === (search || "?") || (next === "?" && !search) ? shared.noUpdate() : next;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.scanner = { address: address };
})();
