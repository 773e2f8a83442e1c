"""What the browser side (`assets/*.js`) needs from Python, sent once with every page: a JSON
element in the index's head, which `assets/_shared.js` reads as `tickwire_shared.config`.

A constant both sides use is defined in Python and reaches the JS from here, never retyped
there: the time ranges, the frame's query parameters, the stream's event kinds, the rollup
grid's origin, the chart's indicators and trace columns, the sparklines' length.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plotly.offline import get_plotlyjs_version

from dashboard import boards, frame, theme
from dashboard.devices import fleet
from dashboard.markets import chart
from tickwire import events, scanner_windows, timegrid, units

ELEMENT_ID = "tickwire-config"


def config() -> dict[str, Any]:
    return {
        "home": frame.HOME,
        "welcome": frame.WELCOME,
        "ranges": [value for value, _ in frame.RANGES],
        "defaultRange": frame.DEFAULT_RANGE,
        "zoneCookie": frame.ZONE_COOKIE,
        "zoneName": frame.ZONE_NAME.pattern,
        "frameParams": list(frame.FRAME_PARAMS),
        "streamKinds": list(events.STREAM_KINDS),
        "gridOriginMs": timegrid.ORIGIN_MS,
        "markets": {
            "columns": list(chart.COLUMNS),
            "indicatorNames": list(chart.NAMES),
            "lineKeys": [line.key for line in chart.LINES],
            "firstLine": chart.FIRST_LINE,
            "show": {"default": list(chart.DEFAULT_SHOW), "all": [k for k, _ in chart.TOGGLES]},
        },
        "scanner": {"defaultWindow": scanner_windows.DEFAULT_WINDOW},
        "devices": {"sparkPoints": fleet.SPARK_POINTS, "sparkColor": theme.COLORS[0]},
        "boards": {
            "defaultRefreshS": boards.DEFAULT_REFRESH_S,
            "widthCookie": boards.WIDTH_COOKIE,
            "widthSlackPx": boards.WIDTH_SLACK_PX,
        },
        "units": units.UNITS,
    }


def element(data: dict[str, Any] | None = None) -> str:
    """`data` (the config) as a JSON script element: data, not code; `<` escaped so no value
    can end the element."""
    text = json.dumps(config() if data is None else data, separators=(",", ":"))
    text = text.replace("<", "\\u003c")
    return f'<script id="{ELEMENT_ID}" type="application/json">{text}</script>'


#: plotly.js as Dash serves it (`window._dashPlotlyJSURL` when served locally, as here).
PLOTLY_JS = "/_dash-component-suites/plotly/package_data/plotly.min.js"
#: plotly.js' finance bundle at the version of Dash's (`vendor/fetch-plotly.sh`, run by `make`),
#: served at `FINANCE_URL` instead of `PLOTLY_JS` when it is there: every trace tickwire draws,
#: without the full bundle's start-up for maps (~50 ms of a page load).
FINANCE_JS = Path(__file__).parent / "vendor" / f"plotly-finance-{get_plotlyjs_version()}.min.js"
FINANCE_URL = f"/_tickwire/{FINANCE_JS.name}"
#: dcc.Graph's code, a chunk dcc asks for when the first graph is rendered (webpack's
#: `import()`, found already loaded when the page's head had it).
GRAPH_CHUNK = "/_dash-component-suites/dash/dcc/async-graph.js"


def index(template: str) -> str:
    """Dash's index `template` with the config in its head (before the assets' scripts run),
    and plotly.js asked for at once: a deferred script, fetched beside Dash's own and run
    before the page's first chart mounts (dcc.Graph uses `window.Plotly` when it is there),
    instead of fetched only when the first chart asks for it (about 0.2–0.4 s later on a
    dashboard); dcc.Graph's own code likewise (it was asked for after a dashboard's panels
    arrived, one more round trip before the first chart)."""
    if "{%css%}" not in template:
        raise ValueError("the index template has no {%css%} to put the config after")
    plotly = FINANCE_URL if FINANCE_JS.is_file() else PLOTLY_JS
    early = f'<script defer src="{plotly}"></script><script defer src="{GRAPH_CHUNK}"></script>'
    return template.replace("{%css%}", "{%css%}\n        " + element() + "\n        " + early, 1)
