"""Every device's schedule: data every `interval_s` (re-timed by commands), heartbeats, answers
to commands, and the periodic counters line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from simulator.commands import answer
from simulator.fleet import Device, Fleet, Outgoing
from simulator.forward import Forwarder
from simulator.outbox import Outbox
from simulator.settings import SimulatorSettings
from simulator.stats import Stats
from tickwire.contract import acks_topic

log = logging.getLogger("simulator")


async def simulate(
    settings: SimulatorSettings,
    fleet: Fleet,
    forwarders: dict[str, Forwarder],
    outbox: Outbox,
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    """Run every device's schedule until `stop`; devices start spread over their interval."""
    async with asyncio.TaskGroup() as tasks:
        workers = [tasks.create_task(_report(outbox.stats, settings.sim_report_s), name="report")]
        for device in fleet.devices:
            forwarder = forwarders[device.device_id]
            phase = rng.uniform(0, device.interval_s)
            workers.append(
                tasks.create_task(
                    _publish_data(device, forwarder, outbox, phase), name=device.device_id
                )
            )
            workers.append(
                tasks.create_task(
                    _publish_heartbeats(device, forwarder, outbox, settings.sim_heartbeat_s),
                    name=f"{device.device_id} heartbeat",
                )
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.sim_duration_s or None)
        for worker in workers:
            worker.cancel()


async def _publish_data(
    device: Device, forwarder: Forwarder, outbox: Outbox, phase_s: float
) -> None:
    """Emit every `device.interval_s`, re-timed at once when a command changes it."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(phase_s)
    while True:
        started = loop.time()
        outbox.send(forwarder, device.emit(now_ms()))
        while (left := started + device.interval_s - loop.time()) > 0:
            device.retimed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):  # no task per wait, unlike wait_for
                    await device.retimed.wait()


async def _publish_heartbeats(
    device: Device, forwarder: Forwarder, outbox: Outbox, every_s: float
) -> None:
    while True:
        outbox.send(forwarder, [device.heartbeat(now_ms())])
        await asyncio.sleep(every_s)


async def _report(stats: Stats, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        log.info("%s", stats.summary())


def answer_command(device: Device, forwarder: Forwarder, payload: bytes, outbox: Outbox) -> None:
    outbox.stats.commands += 1
    ack = answer(payload, device)
    if ack is None:
        log.warning("%s: ignored a command without an id: %r", device.device_id, payload[:200])
        return
    log.info("%s: command %s → %s (%s)", device.device_id, ack["id"], ack["status"], ack["detail"])
    outbox.send(forwarder, [Outgoing("ack", acks_topic(device.device_id), ack)])


def now_ms() -> int:
    return time.time_ns() // 1_000_000
