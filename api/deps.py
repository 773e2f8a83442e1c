"""FastAPI dependencies as `Annotated` aliases: what a route needs, in one place."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.history.timerange import TimeRange, time_range
from api.models import User
from api.users import current_active_user, current_superuser, get_session


def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.state.pool
    return pool


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
CurrentUser = Annotated[User, Depends(current_active_user)]
AdminUser = Annotated[User, Depends(current_superuser)]
RangeDep = Annotated[TimeRange, Depends(time_range)]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")]
