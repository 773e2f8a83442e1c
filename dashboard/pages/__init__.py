"""Dash Pages: one module per page (`dash.register_page`).

Besides Dash's own arguments, a page may say (read by `frame.py`): `nav=True` — linked in the top
bar, by `order`, as `name`; `admins_only=True` — linked for admins only (the API refuses others
anyway); `public=True` — no login needed.
"""
