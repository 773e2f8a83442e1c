/* The alerts page, in the browser: `alert` events of the stream keep the loaded rows current
 * (replace a row by id, add a new alert that matches the page's query, drop one that stopped
 * matching), and the table is drawn from the rows. Other kinds of events are ignored.
 */
(function () {
  "use strict";
  const shared = window.tickwire_shared;
  const MAX_ROWS = 500;
  const html = (type, props) => ({ type: type, namespace: "dash_html_components", props: props });

  function matches(alert, query) {
    if (!query) return false;
    if (query.state === "open" ? alert.state === "CLEARED" : query.state && alert.state !== query.state) return false;
    if (query.kind && alert.kind !== query.kind) return false;
    if (query.device_id && alert.device_id !== query.device_id) return false;
    if (query.ticker && alert.ticker !== query.ticker) return false;
    const raised = Date.parse(alert.raised_at);
    if (query.since && raised < Date.parse(query.since)) return false;
    if (query.until && raised >= Date.parse(query.until)) return false;
    return true;
  }

  function when(iso) { return shared.localTime(iso, true); }

  function value(v) {
    if (v === null || v === undefined) return "";
    return Math.abs(v) >= 1000 ? v.toFixed(0) : String(Math.round(v * 100) / 100);
  }

  function subject(a) {
    // The device's page, or the ticker on the markets page (keeping the frame's range).
    const here = new URLSearchParams(window.location.search);
    const keep = new URLSearchParams();
    shared.config.frameParams.forEach((k) => { if (here.has(k)) keep.set(k, here.get(k)); });
    let href;
    if (a.device_id) href = "/devices/" + encodeURIComponent(a.device_id) + "?" + keep.toString();
    else { keep.set("ticker", a.ticker); href = "/markets?" + keep.toString(); }
    return html("A", { href: href, children: a.subject, className: "alerts-subject" });
  }

  function row(a) {
    const action = a.state === "ACTIVE"
      ? html("Button", { id: { type: "alerts-ack", alert: a.id }, children: "Acknowledge",
                         className: "tw-button alerts-ack", n_clicks: 0 })
      : "";
    // Silence the device's notifications for an hour (POST /api/silences, the page's Python).
    const quiet = a.device_id && a.state !== "CLEARED"
      ? html("Button", { id: { type: "alerts-silence", alert: a.id }, children: "Silence 1 h",
                         className: "tw-button alerts-silence", n_clicks: 0 })
      : "";
    const cells = [
      when(a.raised_at), a.kind, subject(a),
      html("Span", { className: "alerts-sev " + a.severity, children: a.severity }),
      html("Span", { className: "alerts-state " + a.state, children: a.state }),
      value(a.value), a.message, when(a.acked_at), when(a.cleared_at),
      html("Span", { className: "alerts-actions", children: [action, quiet] }),
    ];
    return html("Tr", {
      id: "alerts-row-" + a.id,
      className: "alerts-row " + a.state,
      "data-state": a.state,
      children: cells.map((c) => html("Td", { children: c })),
    });
  }

  const HEAD = ["Raised", "Kind", "Subject", "Severity", "State", "Value", "Message", "Acked",
                "Cleared", ""];

  // The filters → the address's query (other parameters kept in place; "open" is the default).
  function address(state, kind, device, ticker, search) {
    const q = new URLSearchParams(search || "");
    const wanted = { state: state && state !== "open" ? state : null, kind: kind, device: device, ticker: ticker };
    Object.entries(wanted).forEach(([k, v]) => { if (v) q.set(k, v); else q.delete(k); });
    const next = "?" + q.toString();
    return next === (search || "?") ? shared.noUpdate() : next;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  window.dash_clientside.alerts = {
    address: address,
    merge(batch, rows) {
      const noUpdate = shared.noUpdate();
      if (!batch || !rows || !rows.items) return noUpdate;
      const changed = batch.events.filter((e) => e.kind === "alert").map((e) => e.data);
      if (!changed.length) return noUpdate;
      const items = rows.items.slice();
      let total = rows.total;
      changed.forEach((alert) => {
        const at = items.findIndex((item) => item.id === alert.id);
        const keep = matches(alert, rows.query);
        if (at >= 0 && keep) items[at] = alert;
        else if (at >= 0) { items.splice(at, 1); total -= 1; }
        else if (keep) { items.push(alert); total += 1; }
      });
      items.sort((x, y) => Date.parse(y.raised_at) - Date.parse(x.raised_at) || y.id - x.id);
      return Object.assign({}, rows, { items: items.slice(0, MAX_ROWS), total: total });
    },

    render(rows) {
      if (!rows) return ["", ""];
      const summary = `${rows.described} · ${rows.items.length} of ${rows.total}`;
      if (!rows.items.length) {
        return [html("Div", { className: "tw-empty",
          children: "No alerts match: change the filters or widen the time range. New ones appear here live." }),
          summary];
      }
      const head = html("Thead", { children: html("Tr", {
        children: HEAD.map((h) => html("Th", { children: h })) }) });
      const body = html("Tbody", { children: rows.items.map(row) });
      return [html("Table", { className: "tw-table alerts", children: [head, body] }), summary];
    },
  };
})();
