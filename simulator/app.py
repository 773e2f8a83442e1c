"""The simulator's `main()`: provision the fleet, connect it, publish on schedule until stopped.

One asyncio loop runs every device: a task for its data, one for its heartbeats
(schedule.py), one for its MQTT connection (link.py: paho served by the loop, no thread per
device). What devices
produce goes through the store-and-forward buffer (forward.py, buffer.py). Stops on
SIGINT/SIGTERM, after `sim_duration_s`, or once `sim_max_messages` data messages are out,
giving the broker some seconds to acknowledge what is buffered; the rest waits in the buffer
for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from simulator import credentials
from simulator.buffer import Buffer
from simulator.fleet import Fleet, build_fleet
from simulator.forward import Forwarder
from simulator.link import Auth, Link, Reauth
from simulator.outbox import Outbox
from simulator.provision import ApiError, Provisioner
from simulator.registry import register
from simulator.schedule import answer_command, now_ms, simulate
from simulator.settings import SimulatorSettings
from simulator.stats import Stats
from tickwire.aio import wait_any
from tickwire.logs import setup_logging
from tickwire.settings import MqttAddress

log = logging.getLogger("simulator")

#: How long the fleet waits for its first connections, and at the end for acknowledgements.
_SETTLE_S = 5.0
_DRAIN_S = 10.0
_TEND_S = 0.25


@dataclass
class Logins:
    """How devices log in to the broker: their own credentials, and how to renew them."""

    auths: dict[str, Auth]
    reauth: Reauth | None


def main(settings: SimulatorSettings) -> None:
    setup_logging("simulator", settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings))


async def run(settings: SimulatorSettings, stop: asyncio.Event | None = None) -> Stats:
    """Simulate until `stop` is set (or a signal, the duration or the budget); return counters."""
    stop = stop or asyncio.Event()
    seed = settings.sim_seed
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    fleet = build_fleet(settings, seed, now_ms())
    log.info(
        "simulating %d sensors and a price feed of %d tickers (seed %d)",
        len(fleet.sensors),
        len(fleet.stocks),
        seed,
    )
    stats = Stats()
    buffer = Buffer(settings.buffer_path, settings.sim_buffer_max)
    try:
        _resume(fleet, buffer)
        with _signals_set(stop):
            async with _credentials(settings, fleet, stop) as logins:
                if settings.sim_register and settings.sim_api_url is None:
                    await register(
                        settings.resolved_database_url(), fleet, settings.offline_timeout_s
                    )
                await _run_fleet(settings, fleet, buffer, stats, logins, stop, seed)
    finally:
        buffer.sync()
        stats.evicted = buffer.evicted
        stats.unconfirmed = len(buffer)
        if stats.unconfirmed:
            log.warning("%d readings stay in %s for the next run", stats.unconfirmed, buffer.path)
        buffer.close()
    log.info("stopped: %s", stats.summary())
    return stats


def _resume(fleet: Fleet, buffer: Buffer) -> None:
    """Devices continue the seqs an earlier run left in the buffer (which is flushed first)."""
    last = buffer.last_seqs()
    for device in fleet.devices:
        device.resume(last.get(device.device_id, 0))
    if len(buffer):
        log.info("%d readings buffered by an earlier run in %s: flushing", len(buffer), buffer.path)


@contextlib.asynccontextmanager
async def _credentials(
    settings: SimulatorSettings, fleet: Fleet, stop: asyncio.Event
) -> AsyncIterator[Logins]:
    """Each device's credentials: from the API (provisioned) or the credentials file."""
    path = settings.credentials_path
    if settings.sim_api_url is None:
        yield Logins(credentials.load(path), None)
        return
    if settings.admin_password is None:
        raise SystemExit("TICKWIRE_SIM_API_URL needs TICKWIRE_ADMIN_PASSWORD (and _EMAIL)")
    provisioner = Provisioner(
        settings.sim_api_url,
        settings.admin_email,
        settings.admin_password,
        path,
        settings.offline_timeout_s,
        stop,
    )
    try:
        try:
            await provisioner.provision(fleet.devices, fleet.stocks)
        except ApiError as exc:
            log.error("provisioning failed, connecting with what is known: %s", exc)
        yield Logins(provisioner.known, provisioner.renew)
    finally:
        await provisioner.aclose()


async def _run_fleet(
    settings: SimulatorSettings,
    fleet: Fleet,
    buffer: Buffer,
    stats: Stats,
    logins: Logins,
    stop: asyncio.Event,
    seed: int,
) -> None:
    outbox = Outbox(stats, settings.sim_drop_every, settings.sim_max_messages, stop)
    devices = {device.device_id: device for device in fleet.devices}

    def on_command(forwarder: Forwarder, payload: bytes) -> None:
        answer_command(devices[forwarder.device_id], forwarder, payload, outbox)

    address = settings.mqtt_address()
    shared = Auth(address.username, address.password) if address.username else None
    forwarders = {}
    for device_id in devices:
        forwarder = Forwarder(
            device_id,
            buffer,
            stats,
            settings.sim_qos,
            settings.sim_batch_max,
            settings.sim_window,
            on_command,
        )
        auth = logins.auths.get(device_id, shared)
        forwarder.link = Link(
            address, device_id, auth, forwarder, settings.mqtt_protocol, logins.reauth
        )
        forwarders[device_id] = forwarder
    async with _connected(forwarders, buffer, address):
        await simulate(settings, fleet, forwarders, outbox, stop, random.Random(seed))


def _links(forwarders: dict[str, Forwarder]) -> list[Link]:
    return [f.link for f in forwarders.values() if f.link is not None]


@contextlib.asynccontextmanager
async def _connected(
    forwarders: dict[str, Forwarder], buffer: Buffer, address: MqttAddress
) -> AsyncIterator[None]:
    """Links up (or trying) for the block; afterwards the buffer drains, then they close."""
    links = _links(forwarders)
    down = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        for link in links:
            tasks.create_task(link.run(down), name=f"{link.device_id} link")
        tasks.create_task(_tend(links, buffer, down), name="tend")
        up = await _wait(lambda: all(link.connected for link in links), _SETTLE_S)
        count = sum(link.connected for link in links)
        if up:
            log.info("%d devices connected to %r", count, address)
        else:
            log.warning(
                "%d of %d devices connected to %r; the others buffer and keep trying",
                count,
                len(links),
                address,
            )
        try:
            yield
        finally:

            def drained() -> bool:
                buffer.sync()
                return len(buffer) == 0 and all(f.caught_up for f in forwarders.values())

            await _wait(drained, _DRAIN_S)
            down.set()


async def _tend(links: list[Link], buffer: Buffer, down: asyncio.Event) -> None:
    """Apply the buffer's deletions, keep connections alive, say when connectivity changes."""
    rounds = 0
    reported = len(links)
    while not down.is_set():
        await wait_any([down], _TEND_S)
        buffer.sync()
        rounds += 1
        if rounds % 4:
            continue
        for link in links:
            link.tick()
        connected = sum(link.connected for link in links)
        if connected != reported and (connected in (0, len(links)) or rounds % 20 == 0):
            log.info(
                "%d of %d devices connected, %d readings buffered",
                connected,
                len(links),
                len(buffer),
            )
            reported = connected


async def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@contextlib.contextmanager
def _signals_set(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` while the fleet runs (where the platform allows it)."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
