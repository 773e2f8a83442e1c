"""User-built dashboards (DESIGN.md "Dashboards"): the model's panels drawn on a 24-column
grid with the frame's time range, variables in the address."""

from __future__ import annotations

#: Seconds between refreshes while live, when the dashboard sets no `refresh` (the board's
#: intervals start at it; assets/boards.js `intervals` takes it from the config).
DEFAULT_REFRESH_S = 10

#: The cookie in which every page (assets/tickwire.js) keeps the width a board's grid has in
#: this browser (the page's content box, px), so that a board's first answer fetches each
#: panel at the resolution its width needs. Not the login's: no HttpOnly, SameSite=Lax.
WIDTH_COOKIE = "tickwire_width"
#: The grid's width when the cookie is absent or not a width (a narrow laptop's).
DEFAULT_WIDTH_PX = 1280
#: Widths believed: a phone's to a wide screen's.
LEAST_WIDTH_PX, MOST_WIDTH_PX = 240, 7680
#: How far the grid's measured width may be from the one the panels were fetched at before
#: they are fetched again at the measured one (a scrollbar's width and some: about 1 % of the
#: points of a grid's width).
WIDTH_SLACK_PX = 24


def reported_width(value: str | None) -> int:
    """The grid width a `WIDTH_COOKIE` value says, when it is a whole number of pixels
    within bounds; else `DEFAULT_WIDTH_PX`. Any other value (huge, negative, not a number, a
    NUL) is no width."""
    if value is None or not (0 < len(value) <= 5) or not value.isascii() or not value.isdigit():
        return DEFAULT_WIDTH_PX
    width = int(value)
    return width if LEAST_WIDTH_PX <= width <= MOST_WIDTH_PX else DEFAULT_WIDTH_PX
