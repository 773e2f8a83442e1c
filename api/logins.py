"""The login guard: failed logins throttled per account and per client address, failures and
lockouts audited (api/throttle.py keeps the counts, api/audit.py the log).

The account's window is DESIGN.md's: the 11th failure within 15 minutes → 429
`too_many_attempts`, even with the right password, until the window passes. A name that is no
account is throttled too (keyed by a digest of it, so that 429s do not tell which names
exist), but not audited.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import asyncpg

from api import throttle
from api.audit import AuditAction, Entry, record
from api.models import User
from api.throttle import Clock, Taken, Window


@contextlib.asynccontextmanager
async def password_hashers(workers: int) -> AsyncIterator[Executor]:
    """The threads that check passwords, for the app's lifespan: a hash takes ~0.1-0.3 s of CPU
    (argon2id on several cores), so a few at a time, never on the event loop."""
    executor = ThreadPoolExecutor(workers, thread_name_prefix="password")
    try:
        yield executor
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    account: Window
    address: Window | None
    clock: Clock


@dataclass(frozen=True, slots=True)
class Attempt:
    """The events one login attempt counted, forgotten if it succeeds."""

    user: User | None
    account: Taken
    address: Taken | None


def account_key(user: User | None, username: str) -> str:
    """An account's id; for a name that is no account, a digest of it (never the name)."""
    if user is not None:
        return str(user.id)
    return "unknown:" + hashlib.sha256(username.strip().lower().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LoginGuard:
    pool: asyncpg.Pool
    policy: LoginPolicy
    address: str | None

    async def begin(self, user: User | None, username: str) -> Attempt:
        """Count the attempt as a failure until it succeeds; 429 if a window is full."""
        now = self.policy.clock()
        account = await throttle.take(
            self.pool, self.policy.account, account_key(user, username), now
        )
        if self.policy.address is None or self.address is None:
            return Attempt(user, account, None)
        try:
            address = await throttle.take(self.pool, self.policy.address, self.address, now)
        except throttle.TooManyAttempts:
            await throttle.forget(self.pool, account)
            raise
        return Attempt(user, account, address)

    async def succeeded(self, attempt: Attempt) -> None:
        await throttle.forget(self.pool, attempt.account)
        if attempt.address is not None:
            await throttle.forget(self.pool, attempt.address)

    async def failed(self, attempt: Attempt) -> None:
        """Audit the failure of an account, and its lockout when this failure filled the window."""
        user = attempt.user
        if user is None:
            return
        window = self.policy.account
        failure = Entry(AuditAction.LOGIN_FAILED, subject=user.email, address=self.address)
        await record(self.pool, failure)
        if attempt.account.count >= window.limit:
            details = {"failures": attempt.account.count, "window_s": window.seconds}
            lockout = Entry(
                AuditAction.ACCOUNT_LOCKED,
                subject=user.email,
                address=self.address,
                details=details,
            )
            await record(self.pool, lockout)
