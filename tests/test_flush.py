from ingest.flush import FlushPolicy

POLICY = FlushPolicy(max_rows=100, max_messages=10, max_age_s=0.2, linger_s=0.002)


def test_empty_batch_never_flushes() -> None:
    assert not POLICY.should_flush(0, 0, 10.0, writer_idle=True)
    assert POLICY.wait_s(0, 0.0, writer_idle=True) is None


def test_full_or_old_batch_flushes_even_while_the_writer_is_busy() -> None:
    assert POLICY.should_flush(100, 1, 0.0, writer_idle=False)
    assert POLICY.should_flush(1, 10, 0.0, writer_idle=False)
    assert POLICY.should_flush(1, 1, 0.2, writer_idle=False)
    assert not POLICY.should_flush(99, 9, 0.19, writer_idle=False)


def test_idle_writer_takes_a_batch_once_it_lingered() -> None:
    assert not POLICY.should_flush(1, 1, 0.001, writer_idle=True)
    assert POLICY.should_flush(1, 1, 0.002, writer_idle=True)


def test_wait_is_until_the_relevant_deadline() -> None:
    assert POLICY.wait_s(1, 0.001, writer_idle=True) == 0.001
    assert abs((POLICY.wait_s(1, 0.05, writer_idle=False) or 0) - 0.15) < 1e-9
    assert POLICY.wait_s(1, 1.0, writer_idle=False) == 0.0


def test_timescaledb_refresh_windows_stop_below_the_real_time_horizon() -> None:
    from datetime import UTC, datetime, timedelta

    from ingest.rollup import refresh_windows

    now = datetime(2026, 11, 22, 12, 30, 30, tzinfo=UTC)
    assert refresh_windows(now - timedelta(seconds=20), now, now) == []
    windows = refresh_windows(now - timedelta(days=2, minutes=1), now, now)
    assert [w[0] for w in windows] == ["1m", "1h", "1d"]
    assert windows[0][1:] == (
        datetime(2026, 11, 20, 12, 29, tzinfo=UTC),
        datetime(2026, 11, 22, 12, 29, tzinfo=UTC),
    )
    assert windows[1][1:] == (
        datetime(2026, 11, 20, 12, tzinfo=UTC),
        datetime(2026, 11, 22, 11, tzinfo=UTC),
    )
    assert windows[2][1:] == (
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 11, 21, tzinfo=UTC),
    )
