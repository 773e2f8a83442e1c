"""Rollup upkeep for both backends.

Plain PostgreSQL: the rows a batch inserted are aggregated, in the batch's statement, into
1-minute partials, and merged into exactly the 1m/1h/1d buckets they touch. Raw rows are
insert-only, so merging count/sum/min/max and first/last by time equals re-aggregating those
buckets, and merges commute: they can be put off and combined. The ingester does (`Upkeep.DEFER`):
a batch appends its partials to `rollup_delta_*` and records their window in `rollup_pending`
(readers read raw rows there, as on TimescaleDB), and `ingest.merger` folds every appended
partial into the rollups about once a second, in one statement that also deletes the partials
and windows it folded. A fleet of N devices then upserts each rollup row once per merge rather
than once per batch. `Upkeep.MERGE` (backfill, tools) merges in the batch's statement.

TimescaleDB: continuous aggregates with real-time aggregation serve recent data; rows older
than what the refresh policies materialise (late data, store-and-forward replays, backfill) get
their window refreshed explicitly after commit, level by level.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Final

from tickwire import timegrid

#: (suffix, width as interval text), finest first.
LEVELS: Final = tuple((suffix, timegrid.sql_interval(width)) for suffix, width in timegrid.LEVELS)
_FINEST: Final = LEVELS[0][1]


class Upkeep(enum.Enum):
    """What a batch's statement does for the rollups."""

    NONE = "none"
    """TimescaleDB: continuous aggregates (late windows: `ingest.refresher`)."""
    MERGE = "merge"
    """Plain PostgreSQL: merge into 1m/1h/1d in the batch's statement."""
    DEFER = "defer"
    """Plain PostgreSQL: append 1-minute partials and their window; `merge_statement` folds them."""


def _bucket(width: str, column: str = "time") -> str:
    return f"date_bin(INTERVAL '{width}', {column}, {timegrid.ORIGIN_SQL})"


# The inserted rows are aggregated once into 1-minute partials (`part`); the 1h and 1d merges
# roll those partials up, since minute buckets nest in hour and day buckets.
_TELEMETRY_PART = f"""
part AS (
    SELECT {_bucket(_FINEST)} AS bucket, device_id, metric, min(value) AS min,
           max(value) AS max, count(*) AS count, sum(value) AS sum,
           (array_agg(value ORDER BY time DESC))[1] AS last, max(time) AS last_time
    FROM ins GROUP BY 1, device_id, metric
)"""

# Open and close are the first and last tick by (time, source): ticks of several sources at
# one instant are ordered by source, as in the raw answers and on TimescaleDB.
_PRICES_PART = f"""
part AS (
    SELECT {_bucket(_FINEST)} AS bucket, ticker,
           (array_agg(price ORDER BY time, source))[1] AS open, max(price) AS high,
           min(price) AS low, (array_agg(price ORDER BY time DESC, source DESC))[1] AS close,
           sum(volume) AS volume, count(*) AS count, min(time) AS open_time,
           max(time) AS close_time, (array_agg(source ORDER BY time, source))[1] AS open_source,
           (array_agg(source ORDER BY time DESC, source DESC))[1] AS close_source
    FROM ins GROUP BY 1, ticker
)"""


def _telemetry_fold(width: str, source: str) -> str:
    """Partials of `source` folded into buckets of `width`, as partials (same columns)."""
    return f"""SELECT {_bucket(width, "bucket")} AS bucket, device_id, metric, min(min) AS min,
           max(max) AS max, sum(count) AS count, sum(sum) AS sum,
           (array_agg(last ORDER BY last_time DESC))[1] AS last, max(last_time) AS last_time
    FROM {source} GROUP BY 1, device_id, metric"""


def _telemetry_merge(suffix: str, width: str, source: str = "part") -> str:
    return f"""
r{suffix} AS (
    INSERT INTO telemetry_{suffix} AS r
        (bucket, device_id, metric, min, max, count, sum, last, last_time)
    {_telemetry_fold(width, source)} ORDER BY device_id, metric, 1
    ON CONFLICT (device_id, metric, bucket) DO UPDATE SET
        min = least(r.min, excluded.min),
        max = greatest(r.max, excluded.max),
        count = r.count + excluded.count,
        sum = r.sum + excluded.sum,
        last = CASE WHEN excluded.last_time > r.last_time THEN excluded.last ELSE r.last END,
        last_time = greatest(r.last_time, excluded.last_time)
)"""


_EARLIER: Final = "(excluded.open_time, excluded.open_source) < (r.open_time, r.open_source)"
_LATER: Final = "(excluded.close_time, excluded.close_source) > (r.close_time, r.close_source)"


def _prices_fold(width: str, source: str) -> str:
    """Partials of `source` folded into buckets of `width`, as partials (same columns)."""
    return f"""SELECT {_bucket(width, "bucket")} AS bucket, ticker,
           (array_agg(open ORDER BY open_time, open_source))[1] AS open, max(high) AS high,
           min(low) AS low,
           (array_agg(close ORDER BY close_time DESC, close_source DESC))[1] AS close,
           sum(volume) AS volume, sum(count) AS count, min(open_time) AS open_time,
           max(close_time) AS close_time,
           (array_agg(open_source ORDER BY open_time, open_source))[1] AS open_source,
           (array_agg(close_source ORDER BY close_time DESC, close_source DESC))[1]
               AS close_source
    FROM {source} GROUP BY 1, ticker"""


def _prices_merge(suffix: str, width: str, source: str = "part") -> str:
    return f"""
r{suffix} AS (
    INSERT INTO prices_{suffix} AS r
        (bucket, ticker, open, high, low, close, volume, count, open_time, close_time,
         open_source, close_source)
    {_prices_fold(width, source)} ORDER BY ticker, 1
    ON CONFLICT (ticker, bucket) DO UPDATE SET
        open = CASE WHEN {_EARLIER} THEN excluded.open ELSE r.open END,
        open_source = CASE WHEN {_EARLIER} THEN excluded.open_source ELSE r.open_source END,
        open_time = least(r.open_time, excluded.open_time),
        high = greatest(r.high, excluded.high),
        low = least(r.low, excluded.low),
        close = CASE WHEN {_LATER} THEN excluded.close ELSE r.close END,
        close_source = CASE WHEN {_LATER} THEN excluded.close_source ELSE r.close_source END,
        close_time = greatest(r.close_time, excluded.close_time),
        volume = CASE WHEN r.volume IS NULL THEN excluded.volume
                      WHEN excluded.volume IS NULL THEN r.volume
                      ELSE r.volume + excluded.volume END,
        count = r.count + excluded.count
)"""


def insert_statement(table: str, upkeep: Upkeep, arrays: bool = False) -> str:
    """INSERT the staged rows, skipping known natural keys; return the rows inserted.

    The result holds the rows actually inserted, in the table's column order (duplicates are
    the staged rows not returned): they become the batch's stream events. `arrays`: the rows
    come as one array parameter per column ($1, $2, …, in the table's column order) rather
    than from the `stage_*` table (a small batch: no COPY round trips).
    """
    return _statement(table, upkeep, dedup=True, arrays=arrays)


def insert_all_statement(table: str, upkeep: Upkeep) -> str:
    """INSERT every staged row, none known yet (else it fails with a unique violation, and
    `insert_statement` is used instead); nothing is returned: the staged rows are the new ones.
    """
    return _statement(table, upkeep, dedup=False, arrays=False)


_ARRAYS: Final = {
    "prices": "unnest($1::timestamptz[], $2::text[], $3::float8[], $4::float8[], $5::text[])"
    " AS s(time, ticker, price, volume, source)",
    "telemetry": "unnest($1::timestamptz[], $2::text[], $3::text[], $4::float8[])"
    " AS s(time, device_id, metric, value)",
}

#: The columns of a 1-minute partial, as `part` and `rollup_delta_*` hold them.
_PART_COLUMNS: Final = {
    "telemetry": "bucket, device_id, metric, min, max, count, sum, last, last_time",
    "prices": "bucket, ticker, open, high, low, close, volume, count, open_time, close_time,"
    " open_source, close_source",
}


def _defer(table: str) -> list[str]:
    """Append the partials, and the window they cover for readers (`api.history.pending`)."""
    return [
        f"""delta AS (
    INSERT INTO rollup_delta_{table} ({_PART_COLUMNS[table]})
    SELECT {_PART_COLUMNS[table]} FROM part
)""",
        f"""pending AS (
    INSERT INTO rollup_pending (relation, window_start, window_end)
    SELECT '{table}_{LEVELS[0][0]}', min(bucket), max(bucket) + INTERVAL '{_FINEST}'
    FROM part HAVING count(*) > 0
)""",
    ]


def _statement(table: str, upkeep: Upkeep, dedup: bool, arrays: bool) -> str:
    if table == "prices":
        columns, order = "time, ticker, price, volume, source", "ticker, time"
        part, merge = _PRICES_PART, _prices_merge
    else:
        columns, order = "time, device_id, metric, value", "device_id, time"
        part, merge = _TELEMETRY_PART, _telemetry_merge
    returning = "ON CONFLICT DO NOTHING\n    RETURNING " + columns if dedup else ""
    rows = _ARRAYS[table] if arrays else f"stage_{table}"
    ctes = [
        f"""ins AS (
    INSERT INTO {table} ({columns})
    SELECT {columns} FROM {rows} ORDER BY {order}
    {returning}
)"""
    ]
    if upkeep is not Upkeep.NONE:
        # Without dedup every staged row is inserted: aggregate them where they are staged.
        source = "ins" if dedup else f"stage_{table}"
        ctes += [part.replace("FROM ins", f"FROM {source}")]
    if upkeep is Upkeep.MERGE:
        ctes += [merge(suffix, width) for suffix, width in LEVELS]
    elif upkeep is Upkeep.DEFER:
        ctes += _defer(table)
    final = f"SELECT {columns} FROM ins" if dedup else "SELECT"
    return "WITH " + ",".join(ctes) + "\n" + final


_PART_ARRAYS: Final = (
    "unnest($1::timestamptz[], $2::text[], $3::text[], $4::float8[], $5::float8[],"
    " $6::bigint[], $7::float8[], $8::float8[], $9::timestamptz[])"
)


def partials_statement(upkeep: Upkeep) -> str:
    """The rollups' upkeep for telemetry rows already inserted, from their 1-minute partials
    given as one array per column (`ingest.partials`): what the insert statements do after
    their `ins`, for rows COPYed straight into `telemetry`."""
    ctes = [f"part AS (SELECT * FROM {_PART_ARRAYS} AS p({_PART_COLUMNS['telemetry']}))"]
    if upkeep is Upkeep.MERGE:
        ctes += [_telemetry_merge(suffix, width) for suffix, width in LEVELS]
    elif upkeep is Upkeep.DEFER:
        ctes += _defer("telemetry")
    else:
        raise ValueError(f"no partials to keep with {upkeep}")
    return "WITH " + ",".join(ctes) + "\nSELECT"


def pending_statement(table: str) -> str:
    """Record the window of partials COPYed into `rollup_delta_{table}` ($1: the first
    1-minute bucket, $2: the last), as `_defer` does for the partials it appends."""
    return (
        "INSERT INTO rollup_pending (relation, window_start, window_end)"
        f" VALUES ('{table}_{LEVELS[0][0]}', $1, $2::timestamptz + INTERVAL '{_FINEST}')"
    )


def merge_statement(table: str) -> str:
    """Fold every appended partial of `table` into 1m/1h/1d and delete it with the windows
    recorded for it; returns the partials folded. One statement, one snapshot: a window is
    deleted exactly when the partials committed with it are merged, in the same commit.

    The partials are folded once into their 1-minute buckets (`folded`: one row per subject
    and minute, however many batches appended one), and every level is merged from those:
    a fleet's many small partials are sorted once, not once per level."""
    if table == "prices":
        merge, fold = _prices_merge, _prices_fold
    else:
        merge, fold = _telemetry_merge, _telemetry_fold
    ctes = [
        f"""windows AS (
    DELETE FROM rollup_pending WHERE relation = '{table}_{LEVELS[0][0]}'
)""",
        f"""part AS (
    DELETE FROM rollup_delta_{table} RETURNING {_PART_COLUMNS[table]}
)""",
        f"""folded AS MATERIALIZED (
    {fold(_FINEST, "part")}
)""",
    ]
    ctes += [merge(suffix, width, "folded") for suffix, width in LEVELS]
    return "WITH " + ",".join(ctes) + "\nSELECT count(*) FROM part"


#: How long a batch may take from choosing its windows to its commit. A policy that
#: materialises up to a bucket end in between would not see the batch's rows; rows that close
#: to a bucket's end count as late, so their window is refreshed anyway.
COMMIT_MARGIN: Final = timedelta(seconds=5)


def refresh_windows(
    oldest: datetime, newest: datetime, now: datetime, since: datetime | None = None
) -> list[tuple[str, datetime, datetime]]:
    """TimescaleDB: the (level, start, end) windows to refresh after committing rows in
    [oldest, newest], finest level first. A level needs it when rows are older than what
    real-time aggregation is sure to cover. Neither the policies (end_offset = one bucket) nor
    these refreshes materialise past `floor(now - width)`, so the watermark never passes it and
    everything from there on is served in real time; the window stops there too.

    `since`: rows older than this are not folded in (raw rows retention may already have
    dropped some of their bucket's: refreshing it would lose the rest); windows start at the
    first whole bucket from there.
    """
    windows = []
    for suffix, _ in LEVELS:
        width = timegrid.WIDTHS[suffix]
        horizon = timegrid.floor(now + COMMIT_MARGIN - width, width)
        start = timegrid.floor(oldest, width)
        if since is not None:
            start = max(start, timegrid.ceil(since, width))
        end = min(timegrid.floor(newest, width) + width, horizon)
        if start < end:
            windows.append((suffix, start, end))
    return windows
