"""/login: the API's cookie login; back to where the user was going."""

from __future__ import annotations

import dash
from dash import Input, Output, State, clientside_callback, dcc, html

dash.register_page(__name__, path="/login", title="tickwire · log in", public=True)

layout = html.Div(
    className="tw-login",
    id="login-form",
    children=[
        html.H1("tickwire"),
        dcc.Input(id="login-email", type="email", placeholder="email", className="tw-input"),
        dcc.Input(
            id="login-password",
            type="password",
            placeholder="password",
            className="tw-input",
            n_submit=0,
        ),
        html.Button("Log in", id="login-submit", className="tw-button primary", n_clicks=0),
        html.Div(id="login-error", className="tw-error"),
        html.P(
            ["No account yet? ", dcc.Link("Sign up", href="/signup", id="login-signup")],
            className="tw-quiet",
        ),
    ],
)

clientside_callback(
    dash.ClientsideFunction("tickwire", "login"),
    Output("login-error", "children"),
    Output("redirect", "data", allow_duplicate=True),
    Input("login-submit", "n_clicks"),
    Input("login-password", "n_submit"),
    State("login-email", "value"),
    State("login-password", "value"),
    State("url", "search"),
    prevent_initial_call=True,
)
