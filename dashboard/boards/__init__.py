"""User-built dashboards (DESIGN.md "Dashboards"): the model's panels drawn on a 24-column
grid with the frame's time range, variables in the address."""
