"""The MQTT contract's parser: what is accepted, and the reason for what is not."""

import contextlib
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.payload_support import nested
from tickwire.contract import Limits, Parsed, Rejected, parse
from tickwire.payload import MAX_LENIENT_DEPTH, nesting_depth

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DEFAULT = Limits()
TS = 1_714_041_600_000  # the contract's example time: 2024-04-25T10:40:00Z


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


def test_every_finite_number_and_boolean_is_a_metric_and_other_values_are_not() -> None:
    body = {"ts": TS, "a": 1, "b": 2.5, "ok": True, "off": False, "fw": "1.2", "seq": 3}
    parsed = p("devices/d/telemetry", body | {"none": None, "list": [True], "obj": {"x": 1}})
    values = {r[2]: r[3] for r in parsed.telemetry}
    assert values == {"a": 1.0, "b": 2.5, "ok": 1.0, "off": 0.0}
    assert all(type(v) is float for v in values.values())
    batch = p(
        "devices/d/telemetry",
        {"readings": [{"ts": TS, "door": True}, {"ts": TS + 1, "door": False}]},
    )
    assert [r[3] for r in batch.telemetry] == [1.0, 0.0]
    only_flags = p("devices/d/telemetry", {"ts": TS, "alarm": False})
    assert [r[2:] for r in only_flags.telemetry] == [("alarm", 0.0)]
    # A boolean under a bad metric name or a reserved key is no metric either.
    with pytest.raises(Rejected, match="invalid metric name"):
        p("devices/d/telemetry", {"ts": TS, "bad name": True})
    reserved = p("devices/d/telemetry", {"ts": TS, "seq": True, "x": 1})
    assert [r[2] for r in reserved.telemetry] == ["x"]
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


# The worst values: whatever a device sends, `parse` answers rows or a `Rejected`, never
# another exception (one would stop the ingester and be redelivered to it forever).

ACK_ID = "8b0e8f7e-1c7a-4b53-9f7e-0a6c2f9b1d11"
TOPICS = ("stocks/AAPL", "devices/d/telemetry", "devices/d/heartbeat", "devices/d/acks")


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize(
    "body",
    [
        nested(1025),
        nested(10_000, kinds=b"{"),
        nested(5_000, kinds=b"[{"),
        b'{"price":1,"temperature":1,"x":' + nested(2_000, kinds=b"{[") + b"}",
        b"[" * 200_000,  # never closed
        b'{"a":' * 50_000,
        # Refused by orjson for the NaN, so read by the lenient parser: depth is checked first.
        b'{"price":NaN,"temperature":NaN,"x":' + nested(300) + b"}",
        b'{"price":1,"temperature":2,"big":' + b"9" * 400 + b',"x":' + nested(900) + b"}",
    ],
    ids=["arrays", "objects", "mixed", "inside", "unclosed", "unclosed-objects", "nan", "bigint"],
)
def test_deep_nesting_is_not_json(topic: str, body: bytes) -> None:
    assert reason(topic, body) == "not_json"


def test_the_lenient_parser_reads_up_to_its_depth() -> None:
    # The NaN sends the payload to the lenient parser; the outer object is one level.
    inside = b'{"temperature":NaN,"x":%s}'
    assert reason("devices/d/telemetry", inside % nested(MAX_LENIENT_DEPTH - 1)) == "non_finite"
    assert reason("devices/d/telemetry", inside % nested(MAX_LENIENT_DEPTH)) == "not_json"
    assert nesting_depth(b'{"a":[1,{"b":"]]][[[{{{\\"["}],"c":[]}') == 3


def test_brackets_inside_strings_are_not_depth() -> None:
    deep_text = json.dumps("[{" * 20_000 + '\\"' + "]}" * 5).encode()
    body = b'{"temperature":NaN,"note":' + deep_text + b"}"
    assert reason("devices/d/telemetry", body) == "non_finite"  # read, then named
    body = b'{"t":1,"note":' + deep_text + b',"n":Infinity}'
    assert reason("devices/d/telemetry", body) == "non_finite"
    fine = p("devices/d/telemetry", {"ts": TS, "t": 1, "note": "[" * 50_000})
    assert [r[2:] for r in fine.telemetry] == [("t", 1.0)]


def test_unterminated_strings_are_refused_quickly() -> None:
    started = time.perf_counter()
    for body in (
        b'{"t":NaN,"s":"' + b'\\"' * 100_000,
        b'{"t":NaN,"s":"' + b"\\" * 200_001,
        b'"' * 250_000,
        b'{"t":NaN,"s":"' + b'\\"[' * 80_000,
    ):
        assert reason("devices/d/telemetry", body) == "not_json"
    assert time.perf_counter() - started < 5


def test_nesting_orjson_reads_is_accepted_where_the_contract_ignores_it() -> None:
    body = b'{"ts":1714041600000,"t":1,"x":' + nested(1000, kinds=b"[{") + b"}"
    assert [r[2:] for r in parse("devices/d/telemetry", body, NOW, DEFAULT).telemetry] == [
        ("t", 1.0)
    ]


@pytest.mark.parametrize(
    ("topic", "body", "expected"),
    [
        ("devices/d/telemetry", b'{"temperature":1' + b"0" * 400 + b"}", "non_finite"),
        ("devices/d/telemetry", b'{"temperature":-1' + b"0" * 5_000 + b"}", "non_finite"),
        ("stocks/AAPL", b'{"price":1' + b"0" * 5_000 + b"}", "non_finite"),
        ("stocks/AAPL", b'{"price":1,"ts":1' + b"0" * 400 + b"}", "non_finite"),
        ("devices/d/heartbeat", b'{"uptime_s":1' + b"0" * 400 + b"}", "non_finite"),
        ("devices/d/telemetry", b'{"readings":[{"ts":1' + b"0" * 400 + b',"t":1}]}', "non_finite"),
        ("devices/d/telemetry", b'{"t":1e999999999}', "non_finite"),
        ("devices/d/telemetry", b'{"t":-0.0e-99999999}', "no_error"),
        (
            "devices/d/acks",
            b'{"id":"%s","status":"ok","detail":%s}' % (ACK_ID.encode(), nested(1000)),
            "bad_type",
        ),
        (
            "devices/d/acks",
            b'{"id":"%s","status":"ok","detail":%s}' % (ACK_ID.encode(), nested(200, kinds=b"{")),
            "no_error",
        ),
        ("devices/d/telemetry", b"\x00" * 1000, "not_json"),
        ("devices/d/telemetry", b'{"t":1,"\xff":2}', "not_json"),
        ("devices/d/telemetry", b'{"t":"\\ud800"}', "no_metrics"),
    ],
)
def test_huge_numbers_and_hostile_values_are_named(topic: str, body: bytes, expected: str) -> None:
    try:
        parse(topic, body, NOW, DEFAULT)
    except Rejected as exc:
        assert exc.reason == expected
    else:
        assert expected == "no_error"


def test_parse_never_raises_anything_but_rejected() -> None:
    """Random JSON-like text (valid or mangled) on every topic: rows or a `Rejected`."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
        st.sampled_from([ACK_ID, TS, 2**64, -(10**400), 10**4000]),
    )
    values = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(["ts", "t", "x"]), inner, max_size=3)
        ),
        max_leaves=20,
    )
    fields = {name: values for name in ("t", "price", "volume", "uptime_s", "detail", "device_id")}
    ts = st.just(TS) | scalars
    reading = st.fixed_dictionaries({}, optional={"ts": ts, "t": values, "u": values})
    readings = st.lists(reading | values, max_size=4) | values
    ack = {"id": st.just(ACK_ID) | scalars, "status": st.sampled_from(["ok", "error"]) | scalars}
    bodies = values | st.fixed_dictionaries(
        {}, optional={**fields, **ack, "ts": ts, "readings": readings}
    )

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(
        st.sampled_from(TOPICS),
        bodies,
        st.integers(min_value=0, max_value=1500),
        st.binary(max_size=4),
    )
    def check(topic: str, value: object, depth: int, junk: bytes) -> None:
        text = json.dumps(value, allow_nan=True).encode()
        for body in (text, nested(depth, text, b"[{"), text[: len(text) // 2] + junk):
            with contextlib.suppress(Rejected):
                parse(topic, body, NOW, DEFAULT)

    check()
