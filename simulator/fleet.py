"""The simulated devices: sensors publishing telemetry and one feed publishing prices.

No I/O here: `emit(now_ms)` returns the messages a device sends next, so the models are
tested without a broker. Each device's `ts` strictly increases and every data message takes
the next `seq`, published or not, so a consumer sees gaps where messages were lost.
"""

from __future__ import annotations

import abc
import asyncio
import random
from dataclasses import dataclass
from typing import Any, ClassVar

from simulator.catalog import Stock, stocks
from simulator.climate import Climate
from simulator.settings import SimulatorSettings
from simulator.stats import Kind
from simulator.walk import TradingWalk
from tickwire.contract import device_stock_topic, heartbeat_topic, telemetry_topic


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish; `seq` is set on data messages (telemetry, prices)."""

    kind: Kind
    topic: str
    payload: dict[str, Any]
    seq: int | None = None


class Device(abc.ABC):
    """What every simulated device has: id, name, publishing interval, seq and clock."""

    kind: ClassVar[str]

    def __init__(self, device_id: str, name: str, interval_s: float, started_ms: int) -> None:
        self.device_id = device_id
        self.name = name
        self.interval_s = interval_s
        self.started_ms = started_ms
        self.retimed = asyncio.Event()
        """Set when the interval changed, so a device waiting out the old one wakes up."""
        self._seq = 0
        self._last_ts = 0

    @abc.abstractmethod
    def emit(self, now_ms: int) -> list[Outgoing]:
        """The data messages of one interval."""

    def set_interval(self, seconds: float) -> None:
        self.interval_s = seconds
        self.retimed.set()

    def resume(self, seq: int) -> None:
        """Continue after `seq` (what an earlier run left in the buffer)."""
        self._seq = max(self._seq, seq)

    def heartbeat(self, now_ms: int) -> Outgoing:
        uptime_s = round(max(0, now_ms - self.started_ms) / 1000, 1)
        payload = {"ts": now_ms, "uptime_s": uptime_s}
        return Outgoing("heartbeat", heartbeat_topic(self.device_id), payload)

    def _stamp(self, now_ms: int) -> tuple[int, int]:
        """The next (seq, ts) of a data message."""
        self._seq += 1
        self._last_ts = max(now_ms, self._last_ts + 1)
        return self._seq, self._last_ts


class Sensor(Device):
    kind = "sensor"

    def __init__(
        self, device_id: str, name: str, interval_s: float, started_ms: int, climate: Climate
    ) -> None:
        super().__init__(device_id, name, interval_s, started_ms)
        self.climate = climate

    def emit(self, now_ms: int) -> list[Outgoing]:
        seq, ts = self._stamp(now_ms)
        temperature, humidity = self.climate.reading(ts)
        payload = {
            "deviceId": self.device_id,
            "ts": ts,
            "temperature": temperature,
            "humidity": humidity,
            "seq": seq,
        }
        return [Outgoing("telemetry", telemetry_topic(self.device_id), payload, seq)]


class Feed(Device):
    """A market data feed: one tick per ticker per interval, on its own price topics."""

    kind = "feed"

    def __init__(
        self,
        device_id: str,
        name: str,
        interval_s: float,
        started_ms: int,
        walks: dict[str, TradingWalk],
    ) -> None:
        super().__init__(device_id, name, interval_s, started_ms)
        self.walks = walks

    def emit(self, now_ms: int) -> list[Outgoing]:
        messages = []
        for ticker, walk in self.walks.items():
            seq, ts = self._stamp(now_ms)
            price, volume = walk.tick(ts)
            payload = {
                "ticker": ticker,
                "price": price,
                "volume": volume,
                "ts": ts,
                "device_id": self.device_id,
                "seq": seq,
            }
            messages.append(
                Outgoing("price", device_stock_topic(self.device_id, ticker), payload, seq)
            )
        return messages


@dataclass
class Fleet:
    sensors: list[Sensor]
    feed: Feed | None
    stocks: list[Stock]

    @property
    def devices(self) -> list[Device]:
        feed: list[Device] = [self.feed] if self.feed else []
        return [*self.sensors, *feed]


def sensor_id(prefix: str, number: int) -> str:
    return f"{prefix}-sensor-{number}"


def feed_id(prefix: str) -> str:
    return f"{prefix}-feed-1"


def build_fleet(settings: SimulatorSettings, seed: int, now_ms: int) -> Fleet:
    """The devices and stocks of `settings`; the same seed gives the same readings and prices."""
    sensors = []
    for number in range(1, settings.sim_devices + 1):
        device_id = sensor_id(settings.sim_prefix, number)
        rng = random.Random(f"{seed}/{device_id}")
        climate = Climate(
            rng,
            offset=rng.uniform(-1.5, 1.5),
            spike_probability=settings.sim_spike_probability,
        )
        interval = settings.sim_interval_s
        sensors.append(Sensor(device_id, f"Sensor {number}", interval, now_ms, climate))
    chosen = stocks(settings.sim_tickers)
    feed = None
    if chosen:
        walks = {stock.ticker: _walk(stock, seed) for stock in chosen}
        interval = settings.sim_tick_interval_s
        feed = Feed(feed_id(settings.sim_prefix), "Price feed 1", interval, now_ms, walks)
    return Fleet(sensors, feed, chosen)


def _walk(stock: Stock, seed: int) -> TradingWalk:
    rng = random.Random(f"{seed}/{stock.ticker}")
    price = stock.reference_price * rng.uniform(0.9, 1.1)
    return TradingWalk(price, rng, mean_volume=rng.uniform(50, 500))
