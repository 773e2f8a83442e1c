"""Dash Pages: one module per page (`dash.register_page`)."""
