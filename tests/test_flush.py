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
