"""The simulator's settings: `TICKWIRE_SIM_*` variables, overridden by command-line flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import Field, ValidationError

from tickwire.settings import CommonSettings


class SimulatorSettings(CommonSettings):
    """Fleet size, rates, the deliberate loss and the limits of a run."""

    sim_devices: int = Field(default=10, ge=0, le=10_000)
    """Sensors publishing telemetry (one MQTT connection each)."""
    sim_tickers: int = Field(default=8, ge=0, le=1_000)
    """Tickers the feed device quotes; 0 runs no feed."""
    sim_interval_s: float = Field(default=1.0, gt=0)
    sim_tick_interval_s: float = Field(default=0.5, gt=0)
    sim_heartbeat_s: float = Field(default=5.0, gt=0)
    sim_drop_every: int = Field(default=30, ge=0)
    """Withhold every n-th data message of each device (0: none), leaving a gap in `seq`."""
    sim_seed: int | None = None
    """Same seed, same readings and prices; unset: a random seed, logged."""
    sim_qos: int = Field(default=1, ge=0, le=2)
    sim_register: bool = True
    sim_prefix: str = Field(default="sim", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,40}$")
    sim_duration_s: float = Field(default=0.0, ge=0)
    """Stop after this long (0: run until stopped)."""
    sim_max_messages: int = Field(default=0, ge=0)
    """Stop after publishing this many data messages (0: no limit)."""
    sim_report_s: float = Field(default=10.0, gt=0)
    sim_spike_probability: float = Field(default=0.01, ge=0, le=1)
    """Chance per reading that a temperature spike above 30 °C starts."""
    sim_buffer: Path | None = None
    """The store-and-forward buffer (SQLite); unset: data_dir/simulator/buffer-{prefix}.sqlite3."""
    sim_buffer_max: int = Field(default=1_000_000, ge=1)
    """Readings the buffer keeps at most; past that the oldest are dropped."""
    sim_batch_max: int = Field(default=500, ge=1, le=10_000)
    """Readings per batch message when the buffer is flushed."""
    sim_window: int = Field(default=100, ge=1, le=10_000)
    """Messages a device has unacknowledged at most."""
    sim_credentials: Path | None = None
    """The devices' MQTT credentials (JSON); unset: `$DATA_DIR/simulator/credentials.json`."""
    sim_api_url: str | None = None
    """Provision the devices through this API (http://host:port); unset: no provisioning."""
    admin_email: str = "admin@example.com"
    admin_password: str | None = Field(default=None, repr=False)
    """The account provisioning logs in with."""

    @property
    def offline_timeout_s(self) -> float:
        """The timeout registered with the devices: a couple of missed heartbeats."""
        return max(10.0, 2.5 * self.sim_heartbeat_s)

    @property
    def buffer_path(self) -> Path:
        if self.sim_buffer is not None:
            return self.sim_buffer
        return self.data_dir / "simulator" / f"buffer-{self.sim_prefix}.sqlite3"

    @property
    def credentials_path(self) -> Path:
        if self.sim_credentials is not None:
            return self.sim_credentials
        return self.data_dir / "simulator" / "credentials.json"

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None) -> SimulatorSettings:
        """The settings with command-line flags over the environment; exits on a bad value."""
        parser = _flags()
        flags = vars(parser.parse_args(argv))
        try:
            return cls(**flags)
        except ValidationError as exc:
            parser.error(str(exc))


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


class _Reciprocal(argparse.Action):
    """`--rate 4` stores an interval of 0.25 s."""

    def __call__(self, _p: Any, namespace: Any, values: Any, _o: str | None = None) -> None:
        setattr(namespace, self.dest, 1.0 / float(values))


#: (flag, setting, type, metavar, help) of the plain flags.
_FLAGS: Final[tuple[tuple[str, str, Callable[[str], Any], str | None, str], ...]] = (
    ("--devices", "sim_devices", int, "N", "sensors, one MQTT connection each (10)"),
    ("--tickers", "sim_tickers", int, "M", "tickers the feed quotes; 0: no feed (8)"),
    ("--heartbeat", "sim_heartbeat_s", _positive, "S", "seconds between heartbeats (5)"),
    ("--drop-every", "sim_drop_every", int, "N", "withhold every n-th data message; 0: none (30)"),
    ("--seed", "sim_seed", int, "N", "same seed, same readings and prices"),
    ("--qos", "sim_qos", int, "0|1|2", "QoS of published messages (1)"),
    ("--prefix", "sim_prefix", str, "ID", "device id prefix (sim)"),
    ("--duration", "sim_duration_s", float, "S", "stop after S seconds; 0: never (0)"),
    ("--max-messages", "sim_max_messages", int, "N", "stop after N data messages; 0: never"),
    ("--mqtt-url", "mqtt_url", str, "URL", "mqtt://user:pass@host:port, or mqtts:// (TLS)"),
    ("--ca-file", "mqtt_ca_file", Path, "PATH", "CA of an mqtts:// broker's certificate"),
    ("--database-url", "database_url", str, "URL", "postgresql://… for registration"),
    ("--log-level", "log_level", str, "LEVEL", "(INFO)"),
    ("--spike-probability", "sim_spike_probability", float, "P", "chance of a >30 °C spike (0.01)"),
    ("--buffer", "sim_buffer", Path, "PATH", "store-and-forward buffer (SQLite file)"),
    ("--buffer-max", "sim_buffer_max", int, "N", "readings buffered at most (1000000)"),
    ("--batch-max", "sim_batch_max", int, "N", "readings per flushed batch message (500)"),
    ("--window", "sim_window", int, "N", "unacknowledged messages per device (100)"),
    ("--credentials", "sim_credentials", Path, "PATH", "devices' MQTT credentials (JSON file)"),
    ("--api-url", "sim_api_url", str, "URL", "provision devices through this API"),
    ("--data-dir", "data_dir", Path, "DIR", "where the buffer and credentials live"),
)


def _flags() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Simulate sensors and a price feed publishing to MQTT (docs/architecture.md).",
        argument_default=argparse.SUPPRESS,
        epilog="Every flag overrides its TICKWIRE_* variable.",
    )
    for flag, dest, kind, metavar, text in _FLAGS:
        parser.add_argument(flag, dest=dest, type=kind, metavar=metavar, help=text)
    _interval_flags(parser, "", "sim_interval_s", "a sensor's readings (1.0)")
    _interval_flags(parser, "tick-", "sim_tick_interval_s", "price rounds (0.5)")
    parser.add_argument(
        "--register",
        dest="sim_register",
        action=argparse.BooleanOptionalAction,
        help="upsert devices and stocks in the database first (on)",
    )
    return parser


def _interval_flags(parser: argparse.ArgumentParser, prefix: str, dest: str, what: str) -> None:
    """`--{prefix}interval S` or, equivalently, `--{prefix}rate HZ`."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        f"--{prefix}interval",
        dest=dest,
        type=_positive,
        metavar="S",
        help=f"seconds between {what}",
    )
    group.add_argument(
        f"--{prefix}rate",
        dest=dest,
        type=_positive,
        action=_Reciprocal,
        metavar="HZ",
        help=f"per second, instead of --{prefix}interval",
    )
