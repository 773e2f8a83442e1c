"""Mounting the dashboard on the API's FastAPI app: same origin, so the login cookie the API
sets reaches the live stream and the API calls of the page.

Pages live in `dashboard/pages/` (Dash Pages, one module per page); the frame around them in
`frame.py`; browser-side logic (the live stream, URL state, login) in `assets/tickwire.js`.
"""

from __future__ import annotations

from pathlib import Path

import dash
from fastapi import FastAPI

from dashboard import client, frame

HERE = Path(__file__).parent


def attach(server: FastAPI, api_base_url: str) -> dash.Dash:
    """Serve the dashboard from `server`; Python callbacks reach the API at `api_base_url`."""
    client.configure(api_base_url)
    app = dash.Dash(
        __name__,
        server=server,  # type: ignore[arg-type]  # Dash 4 infers the FastAPI backend
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="tickwire",
        update_title=None,  # type: ignore[arg-type]  # documented: no "Updating…" title
        suppress_callback_exceptions=True,
    )
    app.layout = frame.layout
    frame.register(app)
    # Dash sets itself up on the first request to its index at "/"; a first visit to any other
    # page (a shared link) would get an index without the assets and callbacks. Do it now.
    app._setup_server()
    return app
