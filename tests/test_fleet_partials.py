"""A big fleet's deferred rollups (issue 20): a batch with a partial per reading COPYs its
partials into `rollup_delta_telemetry` and records their window (`Writer._keep_partials`)
instead of sending them as array parameters; answers read raw rows over the window until the
merger folds the partials (once into minutes, then every level from those), and then the
rollups equal the raw recomputation at every level, new and redelivered batches alike."""

from __future__ import annotations

import asyncpg

from ingest.stats import Stats
from ingest.writer import FAST_PATH_ROWS
from tests.test_rollup_merge import batch, deferring_writer, read_raw_until_merged_then_exact

DEVICES = FAST_PATH_ROWS // 2 + 7  # 2 metrics each: more partials than the arrays take


async def test_a_fleets_partials_are_copied_read_raw_until_merged_then_exact(
    db: asyncpg.Connection,
) -> None:
    writer = await deferring_writer(db)
    stats = Stats()
    copied: list[str] = []
    db.add_query_logger(lambda record: copied.append(record.query))
    # One reading per device a batch: as many partials as rows; the second batch is in the
    # same minute, the third crosses into the next hour.
    for seconds in (range(5, 6), range(6, 7), range(3599, 3601)):
        await writer.write(batch(DEVICES, seconds), stats, "test")
    await writer.write(batch(DEVICES, range(6, 7)), stats, "test")  # a redelivery: dedup
    assert await db.fetchval("SELECT count(*) FROM rollup_delta_telemetry") == DEVICES * 2 * 4
    assert sum("rollup_delta_telemetry" in q and "unnest" in q for q in copied) == 0
    assert sum("VALUES ('telemetry_1m'" in q for q in copied) == 3  # the COPYed windows
    await read_raw_until_merged_then_exact(db)
