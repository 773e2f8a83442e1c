"""The Grafana-style frame around every page: navigation, time range, live on/off, refresh,
the user; and the stores pages share. Its state lives in the URL (`?range=1h&live=1`, or
`?from=…&to=…` for a custom range) so a view can be shared.

Shared stores, read by pages:
- `timerange`: `{"range": "1h"|…|"custom", "start": ISO|None, "end": ISO|None, "live": bool,
  "refresh": n, "tz": zone}` — start/end are set for a custom range; otherwise pages take
  "last <range>". `tz` is the page's one time zone (IANA name): the browser's, or "UTC" with
  `&tz=utc`; every time shown (charts, tables, the From/To inputs) is in it (`zone`, `wall`).
- `live-events`: `{"seq": n, "events": [{"kind", "id", "data"}, …]}`, a batch of stream events
  pushed by `assets/tickwire.js` (one EventSource per page, opened from the page's
  `live_filter(page, tickers, devices)` store; an empty filter opens nothing). A page's
  filter may change (a Python callback writes it): the stream is reopened with the new one.
- `live-reset`: a counter bumped when the stream says `reset`: reload history.
- `me`: the logged-in user (`/users/me`), or None.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from fnmatch import fnmatch
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dash
from dash import Input, Output, State, dcc, html

from dashboard import client

RANGES = [
    ("5m", "Last 5 minutes"),
    ("15m", "Last 15 minutes"),
    ("1h", "Last 1 hour"),
    ("6h", "Last 6 hours"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom range"),
]
DEFAULT_RANGE = "1h"
SPANS = {
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
"""How far back each relative range goes."""
HOME = "/markets"
"""Where the logo, `/` and a login without a `next` lead."""
WELCOME = "/welcome"
"""Where a new account lands after signing up."""
FRAME_PARAMS = ("range", "from", "to", "live", "tz")
"""The query parameters that are the frame's (a link to another page keeps them)."""
_TIME_HINT = "YYYY-MM-DD HH:MM"
#: The cookie in which every page (assets/_shared.js) keeps this browser's time zone (an IANA
#: name) for the server: a page drawn in its first answer uses the zone the browser will.
ZONE_COOKIE = "tickwire_zone"
#: A zone name a cookie holds as it is (every IANA name; the browser writes only these).
ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-/]{1,64}")


def layout() -> html.Div:
    return html.Div(
        className="tw-app",
        children=[
            # The frame's and the pages' view state (range, ticker…): a callback writing it
            # pushes the address without Dash Pages re-rendering the page (refresh=False);
            # links (dcc.Link) and back/forward still navigate.
            dcc.Location(id="url", refresh=False),
            # An address to load (a full page load): a store, not a second dcc.Location, whose
            # props would go stale while `url` pushes the address and then navigate back.
            dcc.Store(id="redirect"),
            dcc.Store(id="timerange"),
            dcc.Store(id="live-events"),
            dcc.Store(id="live-reset", data=0),
            dcc.Store(id="me"),
            html.Header(className="tw-bar", id="bar", children=_bar()),
            html.Main(className="tw-main", children=dash.page_container),
        ],
    )


def _bar() -> list[Any]:
    return [
        html.A("tickwire", href=HOME, className="tw-logo"),
        html.Nav(id="nav", className="tw-nav"),
        html.Div(
            className="tw-controls",
            children=[
                # Hidden on pages the time range does nothing for (`untimed=True`: admin…).
                html.Div(id="time-controls", className="tw-time", children=_time_controls()),
                html.Span(id="stream-status", className="tw-stream", title="live stream"),
                html.Span(id="user", className="tw-user"),
                html.Button("Log out", id="logout", className="tw-button tw-quiet"),
            ],
        ),
    ]


def _time_controls() -> list[Any]:
    return [
        dcc.Dropdown(
            id="range",
            options=[{"label": label, "value": value} for value, label in RANGES],
            value=DEFAULT_RANGE,
            clearable=False,
            searchable=False,
            className="tw-range",
        ),
        html.Div(
            id="custom-range",
            className="tw-custom",
            style={"display": "none"},
            children=[
                dcc.Input(id="range-from", placeholder=_TIME_HINT, debounce=True),
                html.Span("→"),
                dcc.Input(id="range-to", placeholder=_TIME_HINT, debounce=True),
            ],
        ),
        dcc.Checklist(
            id="live",
            options=[{"label": " Live", "value": "on"}],
            value=["on"],
            className="tw-live",
        ),
        html.Button("⟳", id="refresh", title="Refresh", className="tw-button"),
        # The one time zone of every time on the page: the browser's, or UTC (`&tz=utc`).
        html.Button(id="tz", className="tw-button tw-quiet tw-tz"),
    ]


def _page(path: str) -> dict[str, Any]:
    """The registered page that serves `path`, found as Dash Pages' router finds it: its own
    path, else the first template whose `<var>`s, read as `*`, match (fnmatch, as
    `dash._pages._parse_path_variables`); the registry lists exact paths and the more specific
    templates first (`dashboard.app._order_pages`)."""
    for page in dash.page_registry.values():
        template = page.get("path_template")
        if page["path"] == path or (template and fnmatch(path, re.sub("<.*?>", "*", template))):
            return dict(page)
    return {}


async def who(pathname: str | None, search: str | None) -> tuple[Any, ...]:
    """Every page requires a login: without one, go to /login (and come back after)."""
    path = pathname or "/"
    page = _page(path)
    if page.get("public"):
        return None, [], "", dash.no_update, {"display": "none"}, dash.no_update
    try:
        user = await client.me()
    except client.ApiFailed as failed:
        note = html.Span(f"⚠ {failed.message}", className="tw-error", title="retrying on reload")
        return None, [], note, dash.no_update, {}, dash.no_update
    if user is None:
        target = quote(path + (search or ""), safe="")
        return None, [], "", f"/login?next={target}", {"display": "none"}, dash.no_update
    links = navigation(bool(user.get("is_superuser")))
    # The longest link the address starts with is the active one (/admin/users: not /admin).
    active = max((href for _, href in links if path.startswith(href)), key=len, default=None)
    nav = [
        dcc.Link(name, href=href, className="tw-link" + (" active" if href == active else ""))
        for name, href in links
    ]
    timed = {"display": "none"} if page.get("untimed") else {}
    return user, nav, user.get("email", ""), dash.no_update, {}, timed


def navigation(admin: bool) -> list[tuple[str, str]]:
    """The top bar's links (name, path): the pages registered with `nav=True`, by `order`;
    `admins_only` ones for admins only."""
    pages = [
        page
        for page in dash.page_registry.values()
        if page.get("nav") and (admin or not page.get("admins_only"))
    ]
    pages.sort(key=lambda page: page["order"])
    return [(page["name"], page["path"]) for page in pages]


def reported_zone(value: str | None) -> str:
    """The time zone a `ZONE_COOKIE` value names when it is one this machine knows; else
    "UTC" (absent, too long, not a zone name, a path)."""
    if value is None or not ZONE_NAME.fullmatch(value) or ".." in value:
        return "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return "UTC"
    return value


def timerange_at_load(
    query: dict[str, Any], current: dict[str, Any] | None, browser_zone: str
) -> dict[str, Any]:
    """The `timerange` store as assets/tickwire.js `syncTimeRange` sets it when a page opens
    at an address with `query` (Dash Pages' parsing: a repeated parameter is a list):
    `current` is the store before (a link within the app; None on a page load), whose range
    carries over unless the address sets one; `browser_zone` the browser's zone. Without
    `refresh` and `wantLive`, which say nothing about what is drawn."""

    def first(name: str) -> str | None:
        value = query.get(name)
        return str(value[0] if isinstance(value, list) else value) if value is not None else None

    if current and first("range") is None and first("from") is None:
        chosen, start, end = current.get("range"), current.get("start"), current.get("end")
        live = bool(current.get("wantLive", current.get("live")))
    else:
        start, end = first("from"), first("to")
        chosen = first("range") or ("custom" if start else DEFAULT_RANGE)
        live = first("live") != "0"
    if chosen not in SPANS and chosen != "custom":
        chosen = DEFAULT_RANGE
    custom = chosen == "custom"
    return {
        "range": chosen,
        "start": start if custom else None,
        "end": (end or None) if custom else None,
        "live": live and not custom,
        "tz": "UTC" if first("tz") == "utc" else browser_zone,
    }


def window(timerange: dict[str, Any] | None, now: datetime | None = None) -> tuple[str, str]:
    """The `timerange` store as ISO (start, end): custom as given (no end: now), else the last
    <range> up to now (an unknown range: the default)."""
    now = now or datetime.now(UTC)
    chosen = timerange or {}
    if chosen.get("range") == "custom" and chosen.get("start"):
        return str(chosen["start"]), str(chosen.get("end") or now.isoformat())
    span = SPANS.get(str(chosen.get("range")), SPANS[DEFAULT_RANGE])
    return (now - span).isoformat(), now.isoformat()


def instant(iso: str) -> datetime:
    """An API time (ISO with a zone, `Z` too) as an aware datetime."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def zone(timerange: dict[str, Any] | None) -> tzinfo:
    """The page's time zone (`timerange["tz"]`: the browser's, or UTC with `&tz=utc`); UTC
    for a name this machine does not know."""
    name = str((timerange or {}).get("tz") or "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        return UTC


def wall(iso: str, tz: tzinfo = UTC) -> str:
    """An API time (ISO with a zone) → wall clock in `tz` (`YYYY-MM-DD HH:MM:SS.fff`), the way
    the charts show time: plotly.js ignores zones, so the page's zone is applied here (and by
    `tickwire_shared.wall` in the browser)."""
    return instant(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def from_wall(text: str, tz: tzinfo = UTC) -> str:
    """A plotly axis value (wall clock in `tz`) → ISO UTC for the API."""
    local = datetime.fromisoformat(text.strip().replace(" ", "T"))
    return local.replace(tzinfo=tz).astimezone(UTC).isoformat()


def when(iso: str | None, tz: tzinfo = UTC) -> str:
    """An API time for a table or a label, in the page's zone (stated once, in the bar)."""
    return instant(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if iso else ""


def live_filter(
    page: str,
    tickers: list[str] | None = None,
    devices: list[str] | None = None,
    everything: bool = False,
    kinds: list[str] | None = None,
    portfolios: list[int] | None = None,
) -> dcc.Store:
    """A page's stream filter: the page's one EventSource follows these subjects (`everything`:
    all the user may read), only events of `kinds` if given; `portfolio` events of
    `portfolios`."""
    data: dict[str, Any] = {"tickers": tickers or [], "devices": devices or [], "all": everything}
    if kinds:
        data["kinds"] = kinds
    if portfolios:
        data["portfolios"] = portfolios
    return dcc.Store(id={"type": "live-filter", "page": page}, data=data)


def going(page: str) -> dcc.Store:
    """A page's "where to go" store: a server callback that ends in a full page load (a save
    as opening the new dashboard) writes the address here, and the frame hands it to
    `redirect` in the browser. With `redirect` itself among its outputs, Dash fired such a
    callback at every load of the page (its inputs arrive with the page, that output was there
    before): a request that did nothing."""
    return dcc.Store(id={"type": "go", "page": page})


def register(app: dash.Dash) -> None:
    """The frame's callbacks, on `app` (module-level `dash.callback`s would go to the first
    Dash app of the process only)."""
    app.callback(
        Output("me", "data"),
        Output("nav", "children"),
        Output("user", "children"),
        Output("redirect", "data"),
        Output("bar", "style"),
        Output("time-controls", "style"),
        Input("url", "pathname"),
        State("url", "search"),
    )(who)
    # The URL ⇄ controls ⇄ `timerange` store, in the browser (assets/tickwire.js).
    app.clientside_callback(
        dash.ClientsideFunction("tickwire", "syncTimeRange"),
        Output("range", "value"),
        Output("range-from", "value"),
        Output("range-to", "value"),
        Output("live", "value"),
        Output("url", "search"),
        Output("timerange", "data"),
        Output("custom-range", "style"),
        Output("tz", "children"),
        Output("tz", "title"),
        Input("url", "search"),
        Input("range", "value"),
        Input("range-from", "value"),
        Input("range-to", "value"),
        Input("live", "value"),
        Input("refresh", "n_clicks"),
        Input("tz", "n_clicks"),
        State("timerange", "data"),
    )

    app.clientside_callback(
        dash.ClientsideFunction("tickwire", "go"),
        Output("redirect", "data", allow_duplicate=True),
        Input("redirect", "data"),
        prevent_initial_call=True,
    )

    app.clientside_callback(
        dash.ClientsideFunction("tickwire", "goTo"),
        Output("redirect", "data", allow_duplicate=True),
        Input({"type": "go", "page": dash.ALL}, "data"),
        prevent_initial_call=True,
    )

    app.clientside_callback(
        dash.ClientsideFunction("tickwire", "logout"),
        Output("redirect", "data", allow_duplicate=True),
        Input("logout", "n_clicks"),
        prevent_initial_call=True,
    )

    # One EventSource per page, opened from the page's live filter while live is on; a page
    # without one (login, admin) closes it.
    app.clientside_callback(
        dash.ClientsideFunction("tickwire", "follow"),
        Output("stream-status", "children"),
        Input({"type": "live-filter", "page": dash.ALL}, "data"),
        Input("timerange", "data"),
    )
