"""The MQTT contract's parser: what is accepted, and the reason for what is not."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from tickwire.contract import Limits, Parsed, Rejected, parse

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DEFAULT = Limits()
TS = 1_714_041_600_000  # the DESIGN.md example time: 2024-04-25T10:40:00Z


def p(topic: str, body: object, limits: Limits = DEFAULT) -> Parsed:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse(topic, payload, NOW, limits)


def reason(topic: str, body: object, limits: Limits = DEFAULT) -> str:
    with pytest.raises(Rejected) as info:
        p(topic, body, limits)
    return info.value.reason


def test_design_examples_are_accepted() -> None:
    price = parse(
        "stocks/AAPL",
        json.dumps(
            {
                "ticker": "AAPL",
                "price": 150.23,
                "volume": 120,
                "ts": TS,
                "device_id": "feed-1",
                "seq": 42,
            }
        ).encode(),
        NOW,
        Limits(),
    )
    assert price.prices == [
        (datetime(2024, 4, 25, 10, 40, tzinfo=UTC), "AAPL", 150.23, 120.0, "feed-1")
    ]
    reading = parse(
        "devices/dev-1/telemetry",
        json.dumps(
            {"deviceId": "dev-1", "ts": TS, "temperature": 26.3, "humidity": 47.9, "seq": 17}
        ).encode(),
        NOW,
        Limits(),
    )
    assert sorted(r[2:] for r in reading.telemetry) == [("humidity", 47.9), ("temperature", 26.3)]
    assert reading.device_id == "dev-1"


def test_topic_id_is_authoritative_and_both_id_spellings_accepted() -> None:
    parsed = parse(
        "devices/dev-2/telemetry", b'{"device_id":"other","temperature":1}', NOW, Limits()
    )
    assert parsed.telemetry[0][1] == "dev-2"
    parsed = parse("stocks/MSFT", b'{"ticker":"AAPL","price":1}', NOW, Limits())
    assert parsed.prices[0][1] == "MSFT" and parsed.prices[0][4] == ""


def test_a_device_price_topic_names_the_source_and_stocks_only_carries_a_claim() -> None:
    own = p("devices/feed-1/stocks/MSFT", {"ticker": "AAPL", "price": 1, "device_id": "other"})
    assert (own.device_id, own.ticker) == ("feed-1", "MSFT")
    assert own.prices[0][1:] == ("MSFT", 1.0, None, "feed-1")
    # Its own topic's payload id is not even read: a bad one cannot refuse the message.
    assert p("devices/feed-1/stocks/MSFT", {"price": 1, "device_id": 5}).prices[0][4] == "feed-1"
    claim = p("stocks/MSFT", {"price": 1, "device_id": "feed-2"})
    assert claim.device_id is None and claim.prices[0][4] == "feed-2"  # nobody's activity


def test_ts_forms() -> None:
    iso = parse("stocks/X", b'{"price":1,"ts":"2026-11-22T11:00:00Z"}', NOW, Limits())
    assert iso.prices[0][0] == datetime(2026, 11, 22, 11, tzinfo=UTC)
    naive = parse("stocks/X", b'{"price":1,"ts":"2026-11-22T11:00:00"}', NOW, Limits())
    assert naive.prices[0][0] == datetime(2026, 11, 22, 11, tzinfo=UTC)
    missing = parse("stocks/X", b'{"price":1}', NOW, Limits())
    assert missing.prices[0][0] == NOW
    millis = parse("stocks/X", b'{"price":1,"ts":1714041600123}', NOW, Limits())
    assert millis.prices[0][0] == datetime(2024, 4, 25, 10, 40, 0, 123000, tzinfo=UTC)


def test_every_finite_number_is_a_metric_and_other_values_are_not() -> None:
    parsed = p(
        "devices/d/telemetry", {"ts": TS, "a": 1, "b": 2.5, "ok": True, "fw": "1.2", "seq": 3}
    )
    assert sorted(r[2] for r in parsed.telemetry) == ["a", "b"]
    floats = p("devices/d/telemetry", {"ts": float(TS), "seq": 3.0, "deviceId": "d", "c": 1.5})
    assert [r[2:] for r in floats.telemetry] == [("c", 1.5)]


@pytest.mark.parametrize(
    ("topic", "body", "expected"),
    [
        ("stocks/AAPL", b"not json", "not_json"),
        ("stocks/AAPL", b"\xff\xfe", "not_json"),
        ("stocks/AAPL", [1, 2], "not_object"),
        ("stocks/AAPL", {"volume": 3}, "missing_field"),
        ("stocks/AAPL", {"price": "150"}, "bad_type"),
        ("stocks/AAPL", {"price": True}, "bad_type"),
        ("stocks/AAPL", {"price": 1, "volume": -1}, "bad_type"),
        ("stocks/AAPL", b'{"price": NaN}', "non_finite"),
        ("stocks/AAPL", b'{"price": 1e999}', "non_finite"),
        ("devices/d/telemetry", b'{"temperature": Infinity}', "non_finite"),
        ("stocks/AAPL", {"price": 1, "ts": 1_714_041_600}, "ts_out_of_window"),
        ("stocks/AAPL", {"price": 1, "ts": "yesterday"}, "bad_ts"),
        ("devices/d/telemetry", {"ts": TS, "fw": "x"}, "no_metrics"),
        ("devices/d/telemetry", {"readings": []}, "bad_type"),
        ("devices/d/telemetry", {"readings": [{"temperature": 1}]}, "missing_field"),
        ("devices/d/acks", {"id": "nope", "status": "ok"}, "bad_type"),
        (
            "devices/d/acks",
            {"id": "8b0e8f7e-1c7a-4b53-9f7e-0a6c2f9b1d11", "status": "?"},
            "bad_type",
        ),
        ("stocks/bad ticker!", {"price": 1}, "bad_topic"),
        ("devices/d/unknown", {"price": 1}, "bad_topic"),
        ("stocks/AAPL", {"price": 1, "device_id": 7}, "bad_type"),
        ("stocks/AAPL", {"price": 1, "device_id": "bad id"}, "bad_type"),
        ("devices/bad id/stocks/AAPL", {"price": 1}, "bad_topic"),
        ("devices/d/stocks/bad ticker!", {"price": 1}, "bad_topic"),
        ("devices/d/stocks/", {"price": 1}, "bad_topic"),
        ("devices/d/stocks", {"price": 1}, "bad_topic"),
        ("devices/d/stocks/AAPL/x", {"price": 1}, "bad_topic"),
        ("devices/d/prices/AAPL", {"price": 1}, "bad_topic"),
        ("devices/d/stocks/AAPL", {"volume": 1}, "missing_field"),
    ],
)
def test_rejections_have_stable_reasons(topic: str, body: object, expected: str) -> None:
    assert reason(topic, body) == expected


def test_future_ts_and_oversized_payloads() -> None:
    future = int((NOW + timedelta(hours=1)).timestamp() * 1000)
    assert reason("stocks/A", {"price": 1, "ts": future}) == "ts_out_of_window"
    assert (
        reason("stocks/A", {"price": 1, "pad": "x" * 300}, Limits(max_payload_bytes=200))
        == "oversized"
    )
    many = {"readings": [{"ts": TS + i, "t": 1} for i in range(11)]}
    assert reason("devices/d/telemetry", many, Limits(max_readings=10)) == "oversized"


def test_batch_keeps_good_readings_and_reports_bad_ones() -> None:
    body = b'{"readings":[{"ts":1714041600000,"t":1},{"ts":1714041601000,"t":NaN},{"t":3}]}'
    parsed = parse("devices/d/telemetry", body, NOW, Limits())
    assert [r[3] for r in parsed.telemetry] == [1.0]
    assert [r.reason for r in parsed.rejected] == ["non_finite", "missing_field"]
    assert "readings[1]" in parsed.rejected[0].detail
