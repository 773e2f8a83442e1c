"""/signup: a new account (`POST /auth/register`: a plain user, never an admin), logged in at
once and sent to /welcome."""

from __future__ import annotations

import dash
from dash import Input, Output, State, clientside_callback, dcc, html

dash.register_page(__name__, path="/signup", title="tickwire · sign up", public=True)


def _password(ident: str, placeholder: str) -> dcc.Input:
    return dcc.Input(
        id=ident, type="password", placeholder=placeholder, className="tw-input", n_submit=0
    )


layout = html.Div(
    className="tw-login",
    id="signup-form",
    children=[
        html.H1("tickwire"),
        html.P("Create your account", className="tw-quiet"),
        dcc.Input(id="signup-email", type="email", placeholder="email", className="tw-input"),
        _password("signup-password", "password"),
        _password("signup-again", "the password again"),
        html.Button("Sign up", id="signup-submit", className="tw-button primary", n_clicks=0),
        html.Div(id="signup-error", className="tw-error"),
        html.P(
            ["Have an account? ", dcc.Link("Log in", href="/login", id="signup-login")],
            className="tw-quiet",
        ),
    ],
)

clientside_callback(
    dash.ClientsideFunction("tickwire", "signup"),
    Output("signup-error", "children"),
    Output("redirect", "data", allow_duplicate=True),
    Input("signup-submit", "n_clicks"),
    Input("signup-again", "n_submit"),
    State("signup-email", "value"),
    State("signup-password", "value"),
    State("signup-again", "value"),
    prevent_initial_call=True,
)
