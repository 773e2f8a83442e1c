"""Accounts with fastapi-users: JWT bearer for API consumers, a JWT cookie for the dashboard.

What fastapi-users leaves open is closed here: `null` in an account patch, a NUL in a login
name, a token without an expiry, two registrations of one address at once, and removing the
last admin (see `api/last_admin.py`) are all 4xx in the one error shape, never 500s.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import jwt
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
    JWTStrategy,
)
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from pydantic import EmailStr, Field, SecretStr
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.last_admin import keep_an_admin
from api.models import User

COOKIE_NAME = "tickwire_auth"
MIN_PASSWORD_LENGTH = 8
PASSWORD_RULE = f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
#: Claims a token must carry: fastapi-users signs all three, and one without `exp` never dies.
REQUIRED_CLAIMS = ["exp", "aud", "sub"]


class UserRead(user_schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(user_schemas.BaseUserCreate):
    pass


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

    async def validate_password(
        self, password: str, user: user_schemas.BaseUserCreate | User
    ) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidPasswordException(reason=PASSWORD_RULE)

    async def authenticate(self, credentials: OAuth2PasswordRequestForm) -> User | None:
        """A login name PostgreSQL cannot even compare (a NUL) is a 422, like any bad field."""
        if "\x00" in credentials.username:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "username"),
                        "msg": "must not contain NUL characters",
                        "type": "string_pattern_mismatch",
                    }
                ]
            )
        return await super().authenticate(credentials)

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


class StrictJWTStrategy(JWTStrategy[User, uuid.UUID]):
    """fastapi-users' JWT strategy, but a token without `exp`, `aud` or `sub` is refused."""

    async def read_token(
        self, token: str | None, user_manager: BaseUserManager[User, uuid.UUID]
    ) -> User | None:
        if token is None:
            return None
        try:
            claims = jwt.decode(
                token,
                _secret(self.decode_key),
                audience=self.token_audience,
                algorithms=[self.algorithm],
                options={"require": REQUIRED_CLAIMS},
            )
            return await user_manager.get(user_manager.parse_id(claims["sub"]))
        except (jwt.PyJWTError, exceptions.UserNotExists, exceptions.InvalidID):
            return None


def _secret(key: str | SecretStr) -> str:
    return key.get_secret_value() if isinstance(key, SecretStr) else key


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
    yield manager


def get_strategy(request: Request) -> StrictJWTStrategy:
    return StrictJWTStrategy(
        secret=request.state.jwt_secret, lifetime_seconds=request.state.jwt_lifetime_s
    )


bearer_backend = AuthenticationBackend(
    name="jwt", transport=BearerTransport(tokenUrl="auth/jwt/login"), get_strategy=get_strategy
)
# Not `Secure`: the demo and compose serve plain HTTP; put TLS in front for production.
cookie_backend = AuthenticationBackend(
    name="cookie",
    transport=CookieTransport(cookie_name=COOKIE_NAME, cookie_secure=False),
    get_strategy=get_strategy,
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [bearer_backend, cookie_backend])
current_active_user = fastapi_users.current_user(active=True)
current_superuser = fastapi_users.current_user(active=True, superuser=True)
