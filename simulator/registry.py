"""Registering the fleet in the database, so a fresh stack shows names and kinds at once, and
the feed's prices continuing from the latest stored ones (a restart is no jump in the market).

Optional: when the database is unreachable the simulator still runs, and the ingester
auto-registers the devices and tickers it sees (with bare ids for names).
"""

from __future__ import annotations

import logging

import asyncpg

from simulator.fleet import Fleet

log = logging.getLogger("simulator.registry")

_UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

# A device someone edited (not auto-registered) keeps its name and kind; one someone deleted
# stays deleted (its id is retired, as the ingester's auto-registration knows).
_DEVICES = """
INSERT INTO devices AS d (device_id, name, kind, offline_timeout_s)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[]) AS v(id, n, k, t)
WHERE NOT EXISTS (SELECT FROM device_tombstones r WHERE r.device_id = v.id)
ON CONFLICT (device_id) DO UPDATE
   SET name = EXCLUDED.name, kind = EXCLUDED.kind, offline_timeout_s = EXCLUDED.offline_timeout_s,
       auto_registered = false, updated_at = now()
 WHERE d.auto_registered
"""

# Fill in what auto-registration left empty; never overwrite what is there.
_STOCKS = """
INSERT INTO stocks AS s (ticker, name, exchange, currency)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT (ticker) DO UPDATE
   SET name = coalesce(s.name, EXCLUDED.name),
       exchange = coalesce(s.exchange, EXCLUDED.exchange),
       currency = coalesce(s.currency, EXCLUDED.currency)
"""

#: Each ticker's latest price, by the prices key (an index lookup per ticker).
_LATEST = """
SELECT t.ticker, last.price FROM unnest($1::text[]) AS t(ticker)
JOIN LATERAL (SELECT price FROM prices WHERE prices.ticker = t.ticker
              ORDER BY time DESC, source DESC LIMIT 1) last ON true
"""

_DEVICE_TICKERS = """
INSERT INTO device_tickers (device_id, ticker) SELECT $1, unnest($2::text[])
WHERE EXISTS (SELECT FROM devices WHERE device_id = $1)
ON CONFLICT DO NOTHING
"""


async def register(
    database_url: str, fleet: Fleet, offline_timeout_s: float, timeout_s: float = 5.0
) -> bool:
    """Upsert the fleet's devices, stocks and the feed's tickers; False (logged) on failure."""
    try:
        conn = await asyncpg.connect(database_url, timeout=timeout_s)
    except _UNREACHABLE as exc:
        log.warning("database unreachable, devices not registered (%s)", exc)
        return False
    try:
        async with conn.transaction():
            await _upsert(conn, fleet, offline_timeout_s)
    except _UNREACHABLE as exc:
        log.warning("could not register devices (%s)", exc)
        return False
    finally:
        await conn.close()
    log.info("registered %d devices and %d stocks", len(fleet.devices), len(fleet.stocks))
    return True


async def _upsert(conn: asyncpg.Connection, fleet: Fleet, offline_timeout_s: float) -> None:
    stocks = fleet.stocks
    await conn.execute(
        _STOCKS,
        [s.ticker for s in stocks],
        [s.name for s in stocks],
        [s.exchange for s in stocks],
        [s.currency for s in stocks],
    )
    devices = fleet.devices
    await conn.execute(
        _DEVICES,
        [d.device_id for d in devices],
        [d.name for d in devices],
        [d.kind for d in devices],
        [offline_timeout_s] * len(devices),
    )
    if fleet.feed is not None:
        await conn.execute(_DEVICE_TICKERS, fleet.feed.device_id, list(fleet.feed.walks))
        for ticker, price in await conn.fetch(_LATEST, list(fleet.feed.walks)):
            fleet.feed.walks[ticker].resume(price)  # a restart is no jump in the market
