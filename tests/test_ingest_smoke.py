import asyncpg

from tests.conftest import RunningIngester
from tests.support import publish, wait_until
from tickwire.broker import Mosquitto


async def test_telemetry_and_price_reach_the_tables(
    db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester
) -> None:
    ts = 1_714_041_600_000
    publish(
        broker.url,
        [
            (
                "devices/dev-1/telemetry",
                {"deviceId": "dev-1", "ts": ts, "temperature": 26.3, "humidity": 47.9, "seq": 1},
            ),
            (
                "stocks/AAPL",
                {"ticker": "AAPL", "price": 150.23, "volume": 120, "ts": ts, "device_id": "feed-1"},
            ),
        ],
    )

    async def arrived() -> bool:
        return (
            await db.fetchval("SELECT count(*) FROM telemetry") == 2
            and await db.fetchval("SELECT count(*) FROM prices") == 1
        )

    await wait_until(arrived)
