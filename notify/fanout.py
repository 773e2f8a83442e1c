"""Outbox → deliveries: each alert change becomes one delivery per channel that gets it.

A channel gets a change when its owner is active and may see the alert (api/access.py's rule,
on the alert as it was at the change), its filter passes, and no silence of its owner matched
the alert at the time of the change. The outbox rows are claimed with `FOR UPDATE SKIP LOCKED`
and deleted in the transaction that writes their deliveries: each change is fanned out once,
whichever notifier does it, and a crash in between leaves it in the outbox.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from api.access import alert_visible_sql
from tickwire.notifications import SEVERITIES

_RANK: Final = "ARRAY[" + ", ".join(f"'{s}'" for s in SEVERITIES) + "]"
_FAN_OUT: Final = f"""
WITH claimed AS (
    DELETE FROM notification_outbox WHERE id IN (
        SELECT id FROM notification_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING *
), made AS (
INSERT INTO notification_deliveries (id, channel_id, alert_id, event, alert, give_up_at)
SELECT gen_random_uuid(), c.id, o.alert_id, o.event, o.alert,
       o.at + make_interval(secs => $2)
FROM claimed o
CROSS JOIN LATERAL (
    SELECT (o.alert ->> 'owner_id')::uuid AS owner_id, o.alert ->> 'device_id' AS device_id,
           o.alert ->> 'ticker' AS ticker, o.alert ->> 'kind' AS kind
) a
JOIN notification_channels c ON true
JOIN users u ON u.id = c.owner_id AND u.is_active
WHERE (c.kinds IS NULL OR a.kind = ANY (c.kinds))
  AND (c.events IS NULL OR o.event = ANY (c.events))
  AND (c.min_severity IS NULL OR array_position({_RANK}, o.alert ->> 'severity')
                                 >= array_position({_RANK}, c.min_severity))
  AND (u.is_superuser OR {alert_visible_sql("c.owner_id")})
  AND NOT EXISTS (
      SELECT FROM silences s
      WHERE s.owner_id = c.owner_id AND s.starts_at <= o.at AND o.at < s.ends_at
        AND (s.kind IS NULL OR s.kind = a.kind)
        AND (s.device_id IS NULL OR s.device_id = a.device_id)
        AND (s.ticker IS NULL OR s.ticker = a.ticker))
RETURNING 1
)
SELECT (SELECT count(*) FROM claimed) AS taken, (SELECT count(*) FROM made) AS made
"""
BATCH: Final = 500


async def fan_out(conn: asyncpg.Connection, give_up_s: float) -> tuple[int, int]:
    """Fan out one batch of the outbox (at most `BATCH` changes): (changes taken, deliveries
    made)."""
    row = await conn.fetchrow(_FAN_OUT, BATCH, give_up_s)
    return row["taken"], row["made"]
