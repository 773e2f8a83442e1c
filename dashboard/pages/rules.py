"""/rules: a user's own alert rules — list, create, edit, delete (the API keeps each user to
their own; an admin sees everyone's). The admin page's rules section, on a page of its own:
the same components and callbacks (`dashboard/pages/admin.py`)."""

from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard.admin import view as admin_view
from dashboard.admin.specs import RULES

dash.register_page(
    __name__,
    path="/rules",
    title="tickwire · alert rules",
    name="Rules",
    order=3.5,
    nav=True,
    untimed=True,
)


def layout(**_query: Any) -> html.Div:
    return html.Div(
        className="tw-grid rules-page",
        children=[
            html.P(
                "Your alert rules: a metric of a device, or a ticker's price, crossing a "
                "threshold (for at least some seconds), or a price moving by a percentage "
                "within a window. Leave Device empty to watch all your devices. Alerts show "
                "on the Alerts page and the live stream.",
                className="tw-quiet tw-panel wide",
            ),
            admin_view.section(RULES),
        ],
    )
