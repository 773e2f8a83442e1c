"""The market scanner's windows (`GET /api/market/scanner?window=`): one list for the API and
the dashboard's scanner page."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

WINDOWS: Final = {
    "5m": timedelta(minutes=5),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
DEFAULT_WINDOW: Final = "1h"
