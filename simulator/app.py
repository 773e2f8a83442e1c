"""The simulator's `main()`: register the fleet, connect it, publish on schedule until stopped.

One asyncio loop schedules every device (a task for its data, one for its heartbeats);
each device has its own MQTT connection. Stops on SIGINT/SIGTERM, after
`sim_duration_s`, or once `sim_max_messages` data messages are out, waiting for the broker
to acknowledge what was published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Iterator

from simulator.commands import answer
from simulator.fleet import Device, Fleet, Outgoing, build_fleet
from simulator.link import Link, open_links
from simulator.outbox import Outbox
from simulator.registry import register
from simulator.settings import SimulatorSettings
from simulator.stats import Stats
from tickwire.contract import acks_topic
from tickwire.logs import setup_logging
from tickwire.settings import MqttAddress

log = logging.getLogger("simulator")


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
    fleet = build_fleet(settings, seed, _now_ms())
    log.info(
        "simulating %d sensors and a price feed of %d tickers (seed %d)",
        len(fleet.sensors),
        len(fleet.stocks),
        seed,
    )
    if settings.sim_register:
        await register(settings.resolved_database_url(), fleet, settings.offline_timeout_s)
    stats = Stats()
    outbox = Outbox(stats, settings.sim_drop_every, settings.sim_max_messages, stop)
    devices = {device.device_id: device for device in fleet.devices}

    def on_command(link: Link, payload: bytes) -> None:
        _answer(devices[link.device_id], link, payload, outbox)

    address = MqttAddress(settings.resolved_mqtt_url())
    with _signals_set(stop):
        async with open_links(address, devices, settings.sim_qos, on_command) as links:
            await _simulate(settings, fleet, links, outbox, stop, random.Random(seed))
    stats.unconfirmed = sum(link.unconfirmed for link in links.values())
    log.info("stopped: %s", stats.summary())
    return stats


async def _simulate(
    settings: SimulatorSettings,
    fleet: Fleet,
    links: dict[str, Link],
    outbox: Outbox,
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    """Run every device's schedule until `stop`; devices start spread over their interval."""
    async with asyncio.TaskGroup() as tasks:
        workers = [tasks.create_task(_report(outbox.stats, settings.sim_report_s), name="report")]
        for device in fleet.devices:
            link = links[device.device_id]
            phase = rng.uniform(0, device.interval_s)
            workers.append(
                tasks.create_task(_publish_data(device, link, outbox, phase), name=device.device_id)
            )
            workers.append(
                tasks.create_task(
                    _publish_heartbeats(device, link, outbox, settings.sim_heartbeat_s),
                    name=f"{device.device_id} heartbeat",
                )
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.sim_duration_s or None)
        for worker in workers:
            worker.cancel()


async def _publish_data(device: Device, link: Link, outbox: Outbox, phase_s: float) -> None:
    """Emit every `device.interval_s`, re-timed at once when a command changes it."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(phase_s)
    while True:
        started = loop.time()
        for message in device.emit(_now_ms()):
            outbox.send(link, message)
        while (left := started + device.interval_s - loop.time()) > 0:
            device.retimed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(device.retimed.wait(), left)


async def _publish_heartbeats(device: Device, link: Link, outbox: Outbox, every_s: float) -> None:
    while True:
        outbox.send(link, device.heartbeat(_now_ms()))
        await asyncio.sleep(every_s)


async def _report(stats: Stats, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        log.info("%s", stats.summary())


def _answer(device: Device, link: Link, payload: bytes, outbox: Outbox) -> None:
    outbox.stats.commands += 1
    ack = answer(payload, device)
    if ack is None:
        log.warning("%s: ignored a command without an id: %r", device.device_id, payload[:200])
        return
    log.info("%s: command %s → %s (%s)", device.device_id, ack["id"], ack["status"], ack["detail"])
    outbox.send(link, Outgoing("ack", acks_topic(device.device_id), ack))


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


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
