"""Accounts with fastapi-users: JWT bearer for API consumers, a JWT cookie for the dashboard."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi_users import BaseUserManager, FastAPIUsers, InvalidPasswordException, UUIDIDMixin
from fastapi_users import schemas as user_schemas
from fastapi_users.authentication import (
    AuthenticationBackend,
    BearerTransport,
    CookieTransport,
    JWTStrategy,
)
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import User

COOKIE_NAME = "tickwire_auth"
MIN_PASSWORD_LENGTH = 8


class UserRead(user_schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(user_schemas.BaseUserCreate):
    pass


class UserUpdate(user_schemas.BaseUserUpdate):
    pass


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    async def validate_password(
        self, password: str, user: user_schemas.BaseUserCreate | User
    ) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidPasswordException(
                reason=f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
            )


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessions() as session:
        yield session


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_session)],
) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
    yield SQLAlchemyUserDatabase(session, User)


async def get_user_manager(
    request: Request,
    user_db: Annotated[SQLAlchemyUserDatabase[User, uuid.UUID], Depends(get_user_db)],
) -> AsyncIterator[UserManager]:
    manager = UserManager(user_db)
    manager.reset_password_token_secret = request.state.jwt_secret
    manager.verification_token_secret = request.state.jwt_secret
    yield manager


def get_strategy(request: Request) -> JWTStrategy[User, uuid.UUID]:
    return JWTStrategy(
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
