"""The alert engine's pure parts: state machines, OFFLINE deadlines, the catalog, freshness."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ingest.alerts.catalog import build, device_specs
from ingest.alerts.conditions import Change, Level, MoveWindow, PriceMove, Threshold
from ingest.alerts.config import AlertKey, Config, Device, Rule, WatchLevel
from ingest.alerts.evaluator import Clear, Evaluator, Raise
from ingest.alerts.liveness import Due, Liveness

RAISE, CLEAR = Change.RAISE, Change.CLEAR


def run(level: Level, values: list[float], start: float = 0.0) -> list[Change | None]:
    return [level.update(start + i, v) for i, v in enumerate(values)]


def test_level_raises_once_and_clears_with_hysteresis() -> None:
    level = Level(Threshold(">", 30.0, hysteresis=1.0))
    changes = run(level, [29, 31, 32, 30.5, 29.5, 30.9, 31, 29.0, 28])
    # 31 raises; 32, 30.5, 29.5 stay inside the band (> 29); 29.0 clears; nothing else.
    assert changes == [None, RAISE, None, None, None, None, None, CLEAR, None]


def test_level_without_hysteresis_clears_when_the_condition_is_false() -> None:
    level = Level(Threshold(">=", 10.0))
    assert run(level, [10, 10, 9.99, 10]) == [RAISE, None, CLEAR, RAISE]


@pytest.mark.parametrize(
    ("operator", "values"), [("<", [5, 4, 4.5, 5.9, 6]), ("<=", [6, 5, 5.5, 5.9, 6])]
)
def test_level_below_mirrors(operator: str, values: list[float]) -> None:
    level = Level(Threshold(operator, 5.0, hysteresis=1.0))
    changes = run(level, values)
    assert changes.count(RAISE) == 1 and changes[-1] == CLEAR and changes.count(CLEAR) == 1


def test_level_duration_counts_reading_time_and_resets() -> None:
    level = Level(Threshold(">", 30.0, duration_s=5.0))
    assert level.update(100, 31) is None
    assert level.update(103, 31) is None
    assert level.update(104, 29) is None  # the run of violations ends: start over
    assert level.update(105, 31) is None
    assert level.update(109.9, 31) is None
    assert level.update(110, 31) is RAISE


def test_level_can_start_active() -> None:
    level = Level(Threshold(">", 30.0), active=True)
    assert level.update(0, 35) is None
    assert level.update(1, 20) is CLEAR


def test_unknown_operator_refused() -> None:
    with pytest.raises(ValueError):
        Threshold("==", 1.0)


def test_move_window_tracks_low_and_high_within_the_window() -> None:
    window = MoveWindow(10.0)
    assert window.add(0, 100) == 0
    assert window.add(1, 105) == pytest.approx(5.0)
    assert window.add(2, 99.75) == pytest.approx(-5.0)  # down 5 % from the high of 105
    # At t=12.5 the window starts at 2.5: every earlier price is out.
    assert window.add(12.5, 100) == pytest.approx(0.0)


def test_price_move_raises_on_either_direction_and_clears_with_hysteresis() -> None:
    move = PriceMove(window_s=60, threshold=5.0, hysteresis=1.0)
    assert move.update(0, 100) is None
    assert move.update(1, 104) is None
    assert move.update(2, 105) is RAISE and move.move == pytest.approx(5.0)
    assert move.update(3, 104.5) is None  # 4.5 %: inside the band
    assert move.update(4, 103.9) is CLEAR  # 3.9 % ≤ 5 − 1
    assert move.update(5, 99.0) is RAISE  # (105 − 99) / 105 = 5.7 % down from the high
    assert move.move == pytest.approx(-5.714, abs=1e-3)


def test_price_move_down() -> None:
    move = PriceMove(window_s=60, threshold=5.0)
    move.warm(0, 200)
    assert move.update(1, 191) is None  # 4.5 % down
    assert move.update(2, 189) is RAISE and move.move == pytest.approx(-5.5)


def test_liveness_deadline_moves_with_messages_and_respects_start() -> None:
    live = Liveness()
    live.watch("d", last_seen=100.0, timeout_s=10.0, offline=False, not_before=1000.0)
    assert live.next_due() == 1000.0  # the ingester was down: not offline before start+timeout
    live.seen("d", 1001.0)
    assert live.next_due() == 1011.0
    assert live.due(1010.9) == []
    assert live.due(1011.0) == [Due("d", 1001.0, 0.0)]
    live.went_offline("d", later=(5.0,))
    assert live.next_due() == 1016.0
    assert live.due(1016.0) == [Due("d", 1001.0, 5.0)]
    assert live.next_due() is None


def test_liveness_message_cancels_pending_stages() -> None:
    live = Liveness()
    live.watch("d", last_seen=0.0, timeout_s=10.0, offline=False)
    live.watch("never", last_seen=None, timeout_s=10.0, offline=False)
    live.went_offline("d", later=(5.0,))
    live.seen("d", 12.0)  # back online before the later stage
    assert live.due(15.0) == []
    assert live.next_due() == 22.0
    # Online again: its OFFLINE stage (offset 0, which stands only while online) comes due.
    assert live.due(22.0) == [Due("d", 12.0, 0.0)]


def test_liveness_deadline_follows_the_last_of_many_messages() -> None:
    """Messages to an online device move its deadline without a heap entry each: the entry
    armed first is pushed again when it comes up, so every deadline is still exact."""
    live = Liveness()
    live.watch("a", last_seen=0.0, timeout_s=10.0, offline=False)
    live.watch("b", last_seen=0.0, timeout_s=30.0, offline=False)
    for at in range(1, 21):
        live.seen("a", float(at))
    live.seen("a", 15.0)  # late commit of an older message: the deadline does not go back
    assert live.next_due() == 30.0
    assert live.due(29.9) == []
    assert live.due(30.0) == [Due("b", 0.0, 0.0), Due("a", 20.0, 0.0)]
    live.went_offline("a")
    live.seen("a", 40.0)  # back online: armed again from the new message
    assert live.next_due() == 50.0
    assert live.due(50.0) == [Due("a", 40.0, 0.0)]
    assert live.next_due() is None


def test_liveness_of_a_big_fleet_keeps_one_entry_per_device_and_exact_deadlines() -> None:
    """Batch after batch of a 10 000-device fleet: one heap entry per device (not one per
    device per batch), and each device still goes OFFLINE exactly at its own last message
    + timeout; after a grace (an ingester was deaf), at the grace's end."""
    live = Liveness()
    fleet = [f"dev-{n:05d}" for n in range(10_000)]
    for device_id in fleet:
        live.watch(device_id, last_seen=0.0, timeout_s=10.0, offline=False)
    for batch in range(20):  # 20 batches of 1 000 devices, 0.25 s apart
        live.seen_all((fleet[(batch * 1000 + n) % 10_000], batch * 0.25) for n in range(1000))
    assert len(live._heap) == 10_000
    silent = fleet[:1000]  # last heard in batch 10, at 2.5 s
    assert live.next_due() == 12.5
    assert live.due(12.49) == []
    assert {d.device_id for d in live.due(12.5)} == set(silent)
    assert live.next_due() == 12.75
    for device_id in silent:
        live.went_offline(device_id)  # as the engine marks them
    live.grace(100.0)
    assert live.due(109.99) == []
    assert len(live.due(110.0)) == 9_000


OWNER, OTHER = uuid.uuid4(), uuid.uuid4()


def rule(rule_id: int, kind: str, **fields: object) -> Rule:
    values: dict[str, object] = {
        "id": rule_id,
        "owner_id": OWNER,
        "name": f"r{rule_id}",
        "kind": kind,
        "device_id": None,
        "ticker": None,
        "metric": None,
        "operator": None,
        "threshold": None,
        "duration_s": 0.0,
        "window_s": None,
        "hysteresis": 0.0,
        "severity": "critical",
    }
    values.update(fields)
    return Rule(**values)  # type: ignore[arg-type]


def device(device_id: str, owner: uuid.UUID | None) -> Device:
    return Device(device_id, owner, "ONLINE", None, 10.0)


def test_catalog_builtins_and_rules_replace_them() -> None:
    config = Config(
        rules=[
            rule(1, "HIGH_TEMP", metric="temperature", operator=">", threshold=40.0),
            rule(2, "OFFLINE", device_id="mine-2"),
            rule(
                3, "THRESHOLD", device_id="theirs", metric="humidity", operator="<", threshold=5.0
            ),
            rule(4, "PRICE_ABOVE", ticker="AAPL", threshold=200.0),
        ],
        devices={
            d.device_id: d
            for d in (device("mine-1", OWNER), device("mine-2", OWNER), device("theirs", OTHER))
        },
        watch=[WatchLevel(OTHER, "AAPL", 150.0, 100.0)],
    )
    keys = set(build(config).specs)
    # Rule 1 (no device) covers both of the owner's devices: no built-in HIGH_TEMP there.
    assert AlertKey("HIGH_TEMP", 1, "mine-1", OWNER) in keys
    assert AlertKey("HIGH_TEMP", 1, "mine-2", OWNER) in keys
    assert AlertKey("HIGH_TEMP", None, "mine-1", None) not in keys
    assert AlertKey("HIGH_TEMP", None, "theirs", None) in keys
    assert AlertKey("OFFLINE", 2, "mine-2", OWNER) in keys
    assert AlertKey("OFFLINE", None, "mine-2", None) not in keys
    assert AlertKey("OFFLINE", None, "mine-1", None) in keys
    assert AlertKey("THRESHOLD", 3, "theirs", OWNER) in keys
    assert {AlertKey("ONLINE", None, d, None) for d in config.devices} <= keys
    assert AlertKey("PRICE_ABOVE", 4, "AAPL", OWNER) in keys
    assert AlertKey("PRICE_ABOVE", None, "AAPL", OTHER) in keys
    assert AlertKey("PRICE_BELOW", None, "AAPL", OTHER) in keys
    spec = build(config).specs[AlertKey("PRICE_ABOVE", None, "AAPL", OTHER)]
    assert spec.level is not None and spec.level.hysteresis == pytest.approx(0.3)  # 0.2 %


def test_evaluator_ignores_stale_and_replayed_readings() -> None:
    config = Config(devices={"d": device("d", None)})
    evaluator = Evaluator(max_lag_s=10.0)
    evaluator.rebuild(build(config), [])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    old = [(now - timedelta(seconds=60 - i), "d", "temperature", 50.0) for i in range(5)]
    assert evaluator.telemetry(old, now) == []  # replayed store-and-forward data
    fresh = [(now - timedelta(seconds=1), "d", "temperature", 50.0)]
    raised = evaluator.telemetry(fresh, now)
    assert [type(t) for t in raised] == [Raise]
    # An older (late) reading arriving after a newer one is not evaluated either.
    late = [(now - timedelta(seconds=2), "d", "temperature", 20.0)]
    assert evaluator.telemetry(late, now) == []
    cool = [(now, "d", "temperature", 28.9)]
    assert evaluator.telemetry(cool, now) == [
        Clear(AlertKey("HIGH_TEMP", None, "d", None), "back to temperature 28.9")
    ]


def test_a_price_committed_while_its_window_was_warmed_is_still_evaluated() -> None:
    """At start the engine warms PRICE_MOVE windows from the prices table; a batch committed
    meanwhile is both in that history and queued for evaluation: it must raise once, not be
    taken for a reading already evaluated."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    moved = rule(1, "PRICE_MOVE", ticker="MOVE", threshold=5.0, window_s=60.0, hysteresis=1.0)
    evaluator = Evaluator(max_lag_s=10.0)
    [spec] = evaluator.rebuild(build(Config(rules=[moved])), [])
    history = [(now - timedelta(seconds=30), 100.0), (now, 105.5)]
    evaluator.warm(spec, [(t.timestamp(), price) for t, price in history])
    raised = evaluator.prices([(now, "MOVE", 105.5, None, "")], now)
    assert [type(t) for t in raised] == [Raise]
    assert evaluator.prices([(now, "MOVE", 105.5, None, "")], now) == []  # once only


def test_a_rule_fires_for_one_device_of_a_10000_device_batch() -> None:
    """A big fleet's batch holds one reading of each of thousands of devices: each series
    is still evaluated on its own (fresh, newer than its last, against its own machine)."""
    fleet = [f"dev-{n:05d}" for n in range(10_000)]
    config = Config(devices={d: device(d, None) for d in fleet})
    evaluator = Evaluator(max_lag_s=10.0)
    evaluator.rebuild(build(config), [])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(now - timedelta(seconds=1), d, "temperature", 21.0) for d in fleet]
    rows[7_321] = (now - timedelta(seconds=1), "dev-07321", "temperature", 35.0)
    rows[42] = (now - timedelta(seconds=30), "dev-00042", "temperature", 50.0)  # stale
    raised = evaluator.telemetry(rows, now)
    assert raised == [
        Raise(
            build(config).specs[AlertKey("HIGH_TEMP", None, "dev-07321", None)],
            35.0,
            "temperature 35 > 30 (built-in)",
        )
    ]
    # The next batch: a reading older than the one evaluated is not, a newer one is.
    again = [
        (now - timedelta(seconds=2), "dev-00001", "temperature", 50.0),
        (now, "dev-00042", "temperature", 50.0),
        (now, "dev-07321", "temperature", 20.0),
    ]
    assert [
        (type(t), t.key.subject if isinstance(t, Clear) else t.spec.key.subject)
        for t in evaluator.telemetry(again, now)
    ] == [
        (Raise, "dev-00042"),
        (Clear, "dev-07321"),
    ]


def test_the_catalogs_metric_names_follow_devices_replaced_and_removed() -> None:
    """The evaluator skips rows of metrics no spec watches by `Catalog.metric_names`, kept
    with the specs as the engine replaces a device's (registered, changed, deleted)."""
    humid = rule(1, "THRESHOLD", device_id="b", metric="humidity", operator="<", threshold=5.0)
    config = Config(rules=[humid], devices={d: device(d, OWNER) for d in ("a", "b")})
    catalog = build(config)
    assert catalog.metric_names == {"temperature": 2, "humidity": 1}
    for spec in catalog.remove_device("b"):  # deleted
        assert spec.key not in catalog.specs
    assert catalog.metric_names == {"temperature": 1}
    assert catalog.remove_device("b") == []  # twice: nothing more
    for spec in device_specs(config, config.devices["b"]):  # back
        catalog.add(spec)
    assert catalog.metric_names == {"temperature": 2, "humidity": 1}
    catalog.remove_device("a")
    catalog.remove_device("b")
    assert catalog.metric_names == {} and not catalog.metrics
    evaluator = Evaluator(max_lag_s=10.0)
    evaluator.rebuild(catalog, [])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert (
        evaluator.telemetry([(now, "b", "humidity", 1.0), (now, "a", "temperature", 99.0)], now)
        == []
    )
