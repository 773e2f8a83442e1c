"""The portfolio page's helpers: data (API reads and writes), view (tables and figures)."""
