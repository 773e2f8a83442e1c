"""The stream's user, resolved without keeping a database session for the stream's life.

`CurrentUser` resolves through yield dependencies whose SQLAlchemy session (and its pooled
connection) FastAPI closes only after the response has been sent: for a stream that never
ends, that would pin one connection per client. Here the session is closed before returning.
Bearer header or `tickwire_auth` cookie, as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.models import User
from api.sessions import Claims, get_strategy
from api.users import UserDatabase, UserManager, bearer_backend, cookie_backend

BearerToken = Annotated[str | None, Depends(bearer_backend.transport.scheme)]
CookieToken = Annotated[str | None, Depends(cookie_backend.transport.scheme)]


@dataclass(frozen=True, slots=True)
class StreamLogin:
    """Who opened the stream, and the login (token) it stays open on: the hub ends the stream
    once that login ends (api/stream/hub.py, `sessions_ended`)."""

    user: User
    claims: Claims


async def stream_login(request: Request, bearer: BearerToken, cookie: CookieToken) -> StreamLogin:
    """The active user of the bearer token, else of the cookie; 401 otherwise."""
    strategy = get_strategy(request)
    async with request.state.sessions() as session:
        manager = UserManager(UserDatabase(session, User))
        for token in (bearer, cookie):
            if token:
                user = await strategy.read_token(token, manager)
                claims = strategy.claims(token)
                if user is not None and user.is_active and claims is not None:
                    return StreamLogin(user, claims)
    raise HTTPException(status_code=401)


StreamUser = Annotated[StreamLogin, Depends(stream_login)]
