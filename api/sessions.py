"""Login tokens that logout ends: every token carries a `jti`; logout stores it in
`revoked_tokens` (sql/0006) and every request looks it up, so a logged-out token is refused by
every API replica at once (DESIGN.md "Strictness and sessions"). A password change ends every
token issued (`iat`) before it (`users.tokens_valid_after`).

Why one long-lived token and no refresh token: the lookup happens on every request anyway (one
primary-key read beside the user's own row), so a revoked token dies at once. A short access
token with a refresh exists to skip that lookup; tickwire does not need to skip it, and a
refresh would add a second secret to every client and the dashboard for no gain.

The dashboard's reads in process (dashboard.in_process) of one of its requests share that
lookup (`SharedLogins`): they serve one request of the browser, as one HTTP request's
dependencies would, and a board's fifteen reads each looked the same token up (~15 % of the
API's CPU during board loads).
"""

from __future__ import annotations

import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import jwt
from fastapi import Request
from fastapi_users import BaseUserManager, exceptions
from fastapi_users.authentication import JWTStrategy
from fastapi_users.jwt import generate_jwt
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from api.audit import AuditAction, Entry, record
from api.models import User

#: Claims a token must carry: one without `exp` never dies, one without `jti` cannot be revoked,
#: one without `iat` could outlive a password change.
REQUIRED_CLAIMS = ["exp", "aud", "sub", "jti", "iat"]


#: The logins the in-process reads of one dashboard request resolved (token → user or None);
#: None for every other request, which looks its token up itself.
_shared: ContextVar[dict[str | None, User | None] | None] = ContextVar(
    "tickwire_shared_logins", default=None
)


class SharedLogins:
    """Around the app of the dashboard's in-process reads (api.main's `reads`, never the HTTP
    app): a read whose scope carries a dict as its `extension` (dashboard.in_process gives
    every read of one dashboard request the same) resolves each login token once among the
    reads given the same dict. Only dashboard.in_process makes such scopes; an HTTP request's
    extensions are its server's."""

    def __init__(self, app: ASGIApp, extension: str) -> None:
        self.app = app
        self.extension = extension

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        shared = scope.get("extensions", {}).get(self.extension)
        if shared is None:
            await self.app(scope, receive, send)
            return
        reset = _shared.set(shared)
        try:
            await self.app(scope, receive, send)
        finally:
            _shared.reset(reset)


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    jti: uuid.UUID
    expires: datetime
    issued: datetime


class StrictJWTStrategy(JWTStrategy[User, uuid.UUID]):
    """fastapi-users' JWT strategy with a `jti` and an `iat` in every token; a token is refused
    once revoked, when issued before its user's last password change, or without `exp`,
    `aud`, `sub`, `jti` or `iat`."""

    def __init__(
        self, secret: str, lifetime_seconds: int, pool: asyncpg.Pool, timeout_s: float
    ) -> None:
        super().__init__(secret=secret, lifetime_seconds=lifetime_seconds)
        self.pool = pool
        self.timeout_s = timeout_s

    async def write_token(self, user: User) -> str:
        data = {
            "sub": str(user.id),
            "aud": self.token_audience,
            "jti": str(uuid.uuid4()),
            "iat": time.time(),  # to the microsecond: a login just after a password change counts
        }
        return generate_jwt(data, self.encode_key, self.lifetime_seconds, algorithm=self.algorithm)

    async def read_token(
        self, token: str | None, user_manager: BaseUserManager[User, uuid.UUID]
    ) -> User | None:
        shared = _shared.get()
        if shared is not None and token in shared:
            return shared[token]
        user = await self._user(token, user_manager)
        if shared is not None:
            shared[token] = user
        return user

    async def _user(
        self, token: str | None, user_manager: BaseUserManager[User, uuid.UUID]
    ) -> User | None:
        """The token's user: a token of ours, not revoked, of a user who exists and has not
        changed their password since it was issued."""
        claims = self._claims(token)
        if claims is None or await self._revoked(claims.jti):
            return None
        try:
            user = await user_manager.get(user_manager.parse_id(claims.sub))
        except (exceptions.UserNotExists, exceptions.InvalidID):
            return None
        if user.tokens_valid_after is not None and claims.issued < user.tokens_valid_after:
            return None  # issued before a password change
        return user

    async def destroy_token(self, token: str, user: User) -> None:
        """Logout: the token is refused from now on (it was read, so its claims are good)."""
        claims = self._claims(token)
        if claims is None:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM revoked_tokens WHERE expires_at < now()")
            await conn.execute(
                """INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3)
                   ON CONFLICT (jti) DO NOTHING""",
                claims.jti,
                user.id,
                claims.expires,
            )
        await record(self.pool, Entry(AuditAction.LOGOUT, actor=user, subject=user.email))

    def claims(self, token: str | None) -> Claims | None:
        """The claims of a token `read_token` accepted (the live stream keeps them: it ends
        when they are revoked)."""
        return self._claims(token)

    def _claims(self, token: str | None) -> Claims | None:
        """The token's claims if it is ours, unexpired and complete."""
        if token is None:
            return None
        try:
            claims = jwt.decode(
                token,
                _secret(self.decode_key),
                audience=self.token_audience,
                algorithms=[self.algorithm],
                # `iat` in the future is no reason to refuse: replicas' clocks differ a little.
                options={"require": REQUIRED_CLAIMS, "verify_iat": False},
            )
            expires = datetime.fromtimestamp(float(claims["exp"]), UTC)
            issued = datetime.fromtimestamp(float(claims["iat"]), UTC)
            return Claims(str(claims["sub"]), uuid.UUID(str(claims["jti"])), expires, issued)
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError, OSError):
            return None

    async def _revoked(self, jti: uuid.UUID) -> bool:
        # Bounded like the login's own statements (TICKWIRE_DB_TIMEOUT_S), not like history
        # queries: every request waits on it (a stalled lookup held `/users/me` 32 s).
        found: bool = await self.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)",
            jti,
            timeout=self.timeout_s,
        )
        return found


def _secret(key: str | SecretStr) -> str:
    return key.get_secret_value() if isinstance(key, SecretStr) else key


def get_strategy(request: Request) -> StrictJWTStrategy:
    state = request.state
    return StrictJWTStrategy(
        state.jwt_secret, state.jwt_lifetime_s, state.pool, state.settings.db_timeout_s
    )
