"""The API process: one FastAPI app whose lifespan opens every external resource."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from typing import Any, TypedDict

import asyncpg
import uvicorn
from fastapi import APIRouter, Depends, FastAPI

import dashboard.app as dashboard
from api import browser_policy, credentials, errors, openapi, publisher, strict_query
from api.connections import bounded_protocol, fit_descriptors
from api.db import create_engine, create_pool, session_maker
from api.errors import ERROR_RESPONSES
from api.failures import FailureLog
from api.limits import BodyLimit
from api.logins import LoginPolicy, password_hashers
from api.metrics import RequestMetrics
from api.provisioning import load as load_dashboards
from api.publisher import Publisher
from api.routes import (
    accounts,
    alert_rules,
    alerts,
    audit,
    broker,
    commands,
    dashboards,
    dead_letters,
    device_credentials,
    devices,
    export,
    fleet,
    health,
    history,
    market,
    metrics,
    notification_channels,
    portfolios,
    preferences,
    silences,
    stats,
    stocks,
    stream,
    watchlist,
)
from api.schemas.dashboards import Dashboard
from api.sessions import SharedLogins
from api.settings import ApiSettings
from api.stream.hub import Hub
from api.stream.server import Server
from api.throttle import Clock, Window, wall_clock
from api.users import (
    UserCreate,
    UserRead,
    UserUpdate,
    bearer_backend,
    cookie_backend_for,
    fastapi_users,
    remember_actor,
    throttle_registration,
)
from dashboard import in_process
from tickwire.brokerauth import Accounts
from tickwire.logs import setup_logging
from tickwire.settings import MqttAddress

log = logging.getLogger("api")


class State(TypedDict):
    pool: asyncpg.Pool
    publisher: Publisher
    sessions: Any
    mqtt: MqttAddress
    jwt_secret: str
    jwt_lifetime_s: int
    settings: ApiSettings
    hub: Hub
    accounts: Accounts | None
    logins: LoginPolicy
    registrations: Window
    clock: Clock
    hashers: Executor
    provisioned: dict[str, Dashboard]


def create_app(settings: ApiSettings, clock: Clock = wall_clock) -> FastAPI:
    """The app; `clock` is what the throttles read the time from (tests move it)."""
    jwt_secret = settings.jwt_secret()  # refuse a placeholder before anything starts
    hub = Hub(settings)
    logins, registrations = throttles(settings, clock)
    provisioned = load_dashboards(settings.dashboards_dir)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        url = settings.resolved_database_url()
        pool = await create_pool(url, settings)
        engine = create_engine(url, settings.db_pool_max, settings.db_timeout_s)
        # Everything allocated so far lives as long as the process: keep it out of the
        # collector's full passes (~70 ms each otherwise, the p99 of every request).
        gc.freeze()
        try:
            mqtt = settings.mqtt_address()
            async with (
                publisher.connected(mqtt) as bus,
                credentials.broker_accounts(settings) as accounts,
                hub.running(url, pool),
                password_hashers(settings.password_hash_workers) as hashers,
            ):
                yield {
                    "pool": pool,
                    "publisher": bus,
                    "sessions": session_maker(engine),
                    "mqtt": mqtt,
                    "jwt_secret": jwt_secret,
                    "jwt_lifetime_s": settings.jwt_lifetime_s,
                    "settings": settings,
                    "hub": hub,
                    "accounts": accounts,
                    "logins": logins,
                    "registrations": registrations,
                    "clock": clock,
                    "hashers": hashers,
                    "provisioned": provisioned,
                }
        finally:
            await engine.dispose()
            await pool.close()

    app = FastAPI(
        title="tickwire",
        version="0.1.0",
        description="Market prices and IoT telemetry: CRUD, downsampled history, export, live.",
        lifespan=lifespan,
        # On the app, so every route has it, those added later included (api/strict_query.py).
        dependencies=[Depends(strict_query.refuse_unknown)],
    )
    app.state.hub = hub  # for `main()`'s server, which ends the streams before stopping
    errors.install(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestMetrics)
    # Inside Dash's middleware (added by `attach`, below), which answers a failed callback
    # 500 without a word: every 500 is logged here with its traceback.
    app.add_middleware(FailureLog)
    app.include_router(health.router)
    app.include_router(metrics.router, tags=["ops"])
    _include_auth(app, settings)
    app.include_router(api_router())
    openapi.install(app)
    _unknown_api_paths(app)
    csp = None
    if settings.dashboard:
        # Last: Dash adds its index and catch-all routes after the API's.
        # The dashboard's reads in process: the router, counted and failures logged as here,
        # the reads of one dashboard request looking its login up once.
        reads = SharedLogins(RequestMetrics(FailureLog(app.router)), in_process.LOGINS)
        board = dashboard.attach(app, settings.loopback_url(), reads)
        csp = dashboard.content_security_policy(board)
    browser_policy.install(app, settings, csp)
    return app


def _unknown_api_paths(app: FastAPI) -> None:
    """A GET to no API route is a JSON 404, not the dashboard's page catch-all."""

    async def no_such_route(rest: str) -> None:
        raise errors.NotFound(f"no such route: {rest[:100]}")

    for prefix in ("/api", "/auth", "/users"):
        app.add_api_route(f"{prefix}/{{rest:path}}", no_such_route, include_in_schema=False)


def throttles(settings: ApiSettings, clock: Clock) -> tuple[LoginPolicy, Window]:
    """The login policy (per account, per address) and the registration window per address."""
    window_s = settings.login_failure_window_s
    account = Window(
        "login_failure", settings.login_failure_limit, window_s, "failed logins for this account"
    )
    address = None
    if settings.login_address_limit:
        limit = settings.login_address_limit
        address = Window("login_failure", limit, window_s, "failed logins from this address")
    registrations = Window(
        "registration", settings.register_limit, settings.register_window_s, "registrations"
    )
    return LoginPolicy(account, address, clock), registrations


def _include_auth(app: FastAPI, settings: ApiSettings) -> None:
    register = fastapi_users.get_register_router(UserRead, UserCreate)
    routers = [
        (fastapi_users.get_auth_router(bearer_backend), "/auth/jwt", "auth", []),
        (fastapi_users.get_auth_router(cookie_backend_for(settings)), "/auth/cookie", "auth", []),
        (register, "/auth", "auth", [Depends(throttle_registration)]),
        (
            fastapi_users.get_users_router(UserRead, UserUpdate),
            "/users",
            "users",
            [Depends(remember_actor)],
        ),
    ]
    for router, prefix, tag, dependencies in routers:
        # Their error statuses are documented as `ErrorBody` by api/openapi.py.
        app.include_router(router, prefix=prefix, tags=[tag], dependencies=dependencies)


def api_router() -> APIRouter:
    """Everything under /api; every route requires a user (see api/deps.py)."""
    router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)
    for module, tag in (
        (fleet, "devices"),  # before `devices`: /devices/latest is not /devices/{device_id}
        (devices, "devices"),
        (device_credentials, "devices"),
        (commands, "device commands"),
        (stocks, "stocks"),
        (watchlist, "watchlist"),
        (preferences, "preferences"),
        (alert_rules, "alert rules"),
        (alerts, "alerts"),
        (history, "history"),
        (stats, "stats"),
        (export, "export"),
        (stream, "live"),
        (market, "market"),
        (portfolios, "portfolios"),
        (notification_channels, "notifications"),
        (silences, "notifications"),
        (dashboards, "dashboards"),
        (dead_letters, "admin"),
        (audit, "admin"),
        (accounts, "admin"),
        (broker, "devices"),
    ):
        router.include_router(module.router, tags=[tag])
    return router


def server_config(app: FastAPI, settings: ApiSettings) -> uvicorn.Config:
    """uvicorn as the API runs it: httptools with a request-head deadline and a connection cap
    (api/connections.py), keep-alive per the settings, no access log."""
    max_connections = fit_descriptors(settings.http_max_connections)
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        http=bounded_protocol(settings.http_header_timeout_s, max_connections),
        timeout_keep_alive=settings.http_keepalive_s,
        backlog=2048,
        log_config=None,
        access_log=False,
    )


def main(settings: ApiSettings) -> None:
    setup_logging("api", settings.log_level)
    log.info("listening on http://%s:%d", settings.http_host, settings.http_port)
    app = create_app(settings)
    Server(server_config(app, settings), app.state.hub).run()
