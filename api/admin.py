"""The admin account `make up` ensures: from TICKWIRE_ADMIN_EMAIL / _PASSWORD, or generated."""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi_users.exceptions import UserAlreadyExists

from api.db import create_engine, session_maker
from api.models import User
from api.settings import ApiSettings
from api.users import UserCreate, UserDatabase, UserManager, UserUpdate


async def ensure_admin(settings: ApiSettings) -> tuple[str, str | None]:
    """Create the admin if missing; return (email, password to print or None).

    The account's password is set on every start: to TICKWIRE_ADMIN_PASSWORD, or when that is
    unset to a password generated once and kept in the data dir, which is then printed.
    """
    password, generated = _password(settings)
    engine = create_engine(settings.resolved_database_url(), pool_size=1)
    try:
        async with session_maker(engine)() as session:
            manager = UserManager(UserDatabase(session, User))
            account = UserCreate(
                email=settings.admin_email,
                password=password,
                is_superuser=True,
                is_verified=True,
            )
            try:
                await manager.create(account, safe=False)
            except UserAlreadyExists:
                user = await manager.get_by_email(settings.admin_email)
                update = UserUpdate(password=password, is_superuser=True, is_active=True)
                await manager.update(update, user, safe=False)
    finally:
        await engine.dispose()
    return settings.admin_email, password if generated else None


async def ensure_user(settings: ApiSettings, email: str, kept_as: str) -> str:
    """A plain (non-admin) account for the demo, created if missing, with a password generated
    once and kept in the data dir as `kept_as` (set again at every start); the password."""
    password = _kept(Path(settings.data_dir) / kept_as)
    engine = create_engine(settings.resolved_database_url(), pool_size=1)
    try:
        async with session_maker(engine)() as session:
            manager = UserManager(UserDatabase(session, User))
            try:
                await manager.create(UserCreate(email=email, password=password), safe=True)
            except UserAlreadyExists:
                user = await manager.get_by_email(email)
                await manager.update(UserUpdate(password=password, is_active=True), user)
    finally:
        await engine.dispose()
    return password


def _password(settings: ApiSettings) -> tuple[str, bool]:
    if settings.admin_password:
        return settings.admin_password, False
    return _kept(Path(settings.data_dir) / "admin-password"), True


def _kept(kept: Path) -> str:
    """A password generated on first use and kept (mode 600)."""
    if not kept.exists():
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.touch(mode=0o600)
        kept.write_text(secrets.token_urlsafe(12))
    return kept.read_text().strip()
