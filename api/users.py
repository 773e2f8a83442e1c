"""Accounts with fastapi-users: JWT bearer for API consumers, a JWT cookie for the dashboard.

What fastapi-users leaves open is closed here: `null` in an account patch, a NUL in a login
name, a token without an expiry, two registrations of one address at once, and removing the
last admin (see `api/last_admin.py`) are all 4xx in the one error shape, never 500s. Logout
revokes the token (api/sessions.py); failed logins are throttled and audited (api/logins.py),
and the password is checked in a worker thread, not on the event loop (it takes ~0.1 s of
CPU); account changes and deletions are audited (api/audit.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users import (
    BaseUserManager,
    FastAPIUsers,
    InvalidPasswordException,
    UUIDIDMixin,
    exceptions,
)
from fastapi_users import schemas as user_schemas
from fastapi_users.authentication import (
    AuthenticationBackend,
    BearerTransport,
    CookieTransport,
)
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from pydantic import ConfigDict, EmailStr, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import throttle
from api.audit import AuditAction, Entry, client_address, record_request
from api.last_admin import keep_an_admin
from api.logins import LoginGuard
from api.models import User
from api.sessions import get_strategy
from api.settings import ApiSettings

COOKIE_NAME = "tickwire_auth"
MIN_PASSWORD_LENGTH = 8
PASSWORD_RULE = f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
#: Changes of an account the audit log names with their values (the others by name only).
AUDITED_FLAGS = ("is_active", "is_superuser", "is_verified")


class UserRead(user_schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(user_schemas.BaseUserCreate):
    """Unknown fields are a 422, as in every body of the API (a typo is not silently dropped)."""

    model_config = ConfigDict(extra="forbid")


def _absent() -> Any:
    """A field that may be left out but is never `null` (the columns are NOT NULL)."""
    return Field(default=None, json_schema_extra=_no_default)


def _no_default(schema: dict[str, Any]) -> None:
    """The `None` default only means "absent": the document must not offer `null`."""
    schema.pop("default", None)


class UserUpdate(user_schemas.BaseUserUpdate):
    """Absent = unchanged; `null` is a 422 (fastapi-users would write it: a 500)."""

    password: str = _absent()
    email: EmailStr = _absent()
    is_active: bool = _absent()
    is_superuser: bool = _absent()
    is_verified: bool = _absent()


class UserDatabase(SQLAlchemyUserDatabase[User, uuid.UUID]):
    """A unique violation (two registrations or email changes to one address at once) is
    fastapi-users' "already exists" (400), not a 500."""

    async def create(self, create_dict: dict[str, Any]) -> User:
        try:
            return await super().create(create_dict)
        except IntegrityError:
            await self.session.rollback()
            raise exceptions.UserAlreadyExists() from None

    async def update(self, user: User, update_dict: dict[str, Any]) -> User:
        try:
            return await super().update(user, update_dict)
        except IntegrityError:
            await self.session.rollback()
            raise exceptions.UserAlreadyExists() from None


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    user_db: UserDatabase
    #: Throttles and audits logins; None outside a request (`make up`'s admin set-up).
    guard: LoginGuard | None = None
    #: Where passwords are checked (api/logins.py); None: asyncio's default threads.
    hashers: Executor | None = None

    async def validate_password(
        self, password: str, user: user_schemas.BaseUserCreate | User
    ) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidPasswordException(reason=PASSWORD_RULE)

    async def authenticate(self, credentials: OAuth2PasswordRequestForm) -> User | None:
        """fastapi-users' check, throttled (429 before the password is even looked at when the
        account's window is full), with the password hashed in a thread."""
        _refuse_nul(credentials.username)
        try:
            user: User | None = await self.get_by_email(credentials.username)
        except exceptions.UserNotExists:
            user = None
        # The hash takes long: give the connection back meanwhile (`user` stays loaded).
        await self.user_db.session.close()
        attempt = await self.guard.begin(user, credentials.username) if self.guard else None
        loop = asyncio.get_running_loop()
        verified, new_hash = await loop.run_in_executor(
            self.hashers, self._verify, user, credentials.password
        )
        if user is None or not verified:
            if self.guard and attempt:
                await self.guard.failed(attempt)
            return None
        if self.guard and attempt:
            await self.guard.succeeded(attempt)
        if new_hash is not None:
            await self.user_db.update(user, {"hashed_password": new_hash})
        return user

    def _verify(self, user: User | None, password: str) -> tuple[bool, str | None]:
        """(verified, a stronger hash to store); an unknown user costs a hash too (timing)."""
        if user is None:
            self.password_helper.hash(password)
            return False, None
        return self.password_helper.verify_and_update(password, user.hashed_password)

    async def on_after_update(
        self, user: User, update_dict: dict[str, Any], request: Request | None = None
    ) -> None:
        if request is None:  # `make up` setting the admin's password at start
            return
        actor = getattr(request.state, "actor", None)
        changed = sorted(update_dict)
        if "password" in changed:
            # Every login made before ends (this one too: log in again with the new password).
            await self.user_db.update(user, {"tokens_valid_after": datetime.now(UTC)})
            await record_request(
                request, Entry(AuditAction.PASSWORD_CHANGED, actor=actor, subject=user.email)
            )
            changed.remove("password")
        if changed:
            flags = {k: update_dict[k] for k in AUDITED_FLAGS if k in update_dict}
            entry = Entry(
                AuditAction.ACCOUNT_CHANGED,
                actor=actor,
                subject=user.email,
                details={"fields": changed, **flags},
            )
            await record_request(request, entry)

    async def on_after_delete(self, user: User, request: Request | None = None) -> None:
        if request is not None:
            actor = getattr(request.state, "actor", None)
            entry = Entry(AuditAction.ACCOUNT_DELETED, actor=actor, subject=user.email)
            await record_request(request, entry)

    async def update(
        self,
        user_update: user_schemas.BaseUserUpdate,
        user: User,
        safe: bool = False,
        request: Request | None = None,
    ) -> User:
        # `safe` (a user changing their own account) ignores the flags anyway.
        changes = user_update.model_dump(exclude_unset=True)
        if not safe and (changes.get("is_superuser") is False or changes.get("is_active") is False):
            await keep_an_admin(self.user_db.session, user.id)
        return await super().update(user_update, user, safe, request)

    async def on_before_delete(self, user: User, request: Request | None = None) -> None:
        await keep_an_admin(self.user_db.session, user.id)


def _refuse_nul(username: str) -> None:
    """A login name PostgreSQL cannot even compare (a NUL) is a 422, like any bad field."""
    if "\x00" in username:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "username"),
                    "msg": "must not contain NUL characters",
                    "type": "string_pattern_mismatch",
                }
            ]
        )


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessions() as session:
        yield session


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_session)],
) -> AsyncIterator[UserDatabase]:
    yield UserDatabase(session, User)


async def get_user_manager(
    request: Request, user_db: Annotated[UserDatabase, Depends(get_user_db)]
) -> AsyncIterator[UserManager]:
    manager = UserManager(user_db)
    manager.reset_password_token_secret = request.state.jwt_secret
    manager.verification_token_secret = request.state.jwt_secret
    manager.guard = LoginGuard(request.state.pool, request.state.logins, client_address(request))
    manager.hashers = request.state.hashers
    yield manager


def cookie_transport(settings: ApiSettings) -> CookieTransport:
    """The login cookie with the flags of the settings (`Secure` only behind TLS)."""
    return CookieTransport(
        cookie_name=COOKIE_NAME,
        cookie_max_age=settings.jwt_lifetime_s,
        cookie_secure=settings.cookie_secure,
        cookie_httponly=settings.cookie_httponly,
        cookie_samesite=settings.cookie_samesite,
    )


def cookie_backend_for(settings: ApiSettings) -> AuthenticationBackend[User, uuid.UUID]:
    """The cookie login and logout routes of an app: their Set-Cookie carries its settings.
    (Reading the cookie needs only its name: `cookie_backend` below.)"""
    return AuthenticationBackend(
        name="cookie", transport=cookie_transport(settings), get_strategy=get_strategy
    )


bearer_backend = AuthenticationBackend(
    name="jwt", transport=BearerTransport(tokenUrl="auth/jwt/login"), get_strategy=get_strategy
)
cookie_backend = AuthenticationBackend(
    name="cookie",
    transport=CookieTransport(cookie_name=COOKIE_NAME),
    get_strategy=get_strategy,
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [bearer_backend, cookie_backend])
current_active_user = fastapi_users.current_user(active=True)
current_superuser = fastapi_users.current_user(active=True, superuser=True)


async def remember_actor(
    request: Request, user: Annotated[User, Depends(current_active_user)]
) -> None:
    """Who is acting, for the audit entries of fastapi-users' hooks (which are not told)."""
    request.state.actor = user


async def throttle_registration(request: Request) -> None:
    """Count a registration attempt of the client address; 429 `too_many_attempts` past the
    limit (`TICKWIRE_REGISTER_LIMIT` per `TICKWIRE_REGISTER_WINDOW_S`)."""
    state = request.state
    address = client_address(request) or "unknown"
    await throttle.take(state.pool, state.registrations, address, state.clock())
