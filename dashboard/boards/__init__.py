"""User-built dashboards (DESIGN.md "Dashboards"): the model's panels drawn on a 24-column
grid with the frame's time range, variables in the address."""

#: Seconds between refreshes while live, when the dashboard sets no `refresh` (the board's
#: intervals start at it; assets/boards.js `intervals` takes it from the config).
DEFAULT_REFRESH_S = 10
