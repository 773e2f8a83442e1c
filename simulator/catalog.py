"""The stocks the feed quotes: well-known tickers first, then generated ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Stock:
    ticker: str
    name: str
    exchange: str
    currency: str
    reference_price: float
    """Roughly where the walk starts."""


KNOWN: Final = (
    Stock("AAPL", "Apple Inc.", "NASDAQ", "USD", 190.0),
    Stock("MSFT", "Microsoft Corporation", "NASDAQ", "USD", 420.0),
    Stock("GOOG", "Alphabet Inc. Class C", "NASDAQ", "USD", 170.0),
    Stock("AMZN", "Amazon.com, Inc.", "NASDAQ", "USD", 185.0),
    Stock("NVDA", "NVIDIA Corporation", "NASDAQ", "USD", 120.0),
    Stock("TSLA", "Tesla, Inc.", "NASDAQ", "USD", 240.0),
    Stock("META", "Meta Platforms, Inc.", "NASDAQ", "USD", 500.0),
    Stock("NFLX", "Netflix, Inc.", "NASDAQ", "USD", 650.0),
    Stock("AMD", "Advanced Micro Devices, Inc.", "NASDAQ", "USD", 160.0),
    Stock("INTC", "Intel Corporation", "NASDAQ", "USD", 30.0),
    Stock("ADBE", "Adobe Inc.", "NASDAQ", "USD", 520.0),
    Stock("CSCO", "Cisco Systems, Inc.", "NASDAQ", "USD", 50.0),
    Stock("PYPL", "PayPal Holdings, Inc.", "NASDAQ", "USD", 65.0),
    Stock("ORCL", "Oracle Corporation", "NYSE", "USD", 140.0),
    Stock("IBM", "International Business Machines", "NYSE", "USD", 190.0),
    Stock("CRM", "Salesforce, Inc.", "NYSE", "USD", 260.0),
    Stock("UBER", "Uber Technologies, Inc.", "NYSE", "USD", 70.0),
    Stock("JPM", "JPMorgan Chase & Co.", "NYSE", "USD", 200.0),
    Stock("V", "Visa Inc.", "NYSE", "USD", 270.0),
    Stock("KO", "The Coca-Cola Company", "NYSE", "USD", 62.0),
    Stock("PEP", "PepsiCo, Inc.", "NASDAQ", "USD", 170.0),
    Stock("DIS", "The Walt Disney Company", "NYSE", "USD", 100.0),
    Stock("NKE", "NIKE, Inc.", "NYSE", "USD", 90.0),
    Stock("XOM", "Exxon Mobil Corporation", "NYSE", "USD", 115.0),
)


def stocks(count: int) -> list[Stock]:
    """The first `count` stocks: `KNOWN`, then synthetic `SIM025`, `SIM026`, …"""
    chosen = list(KNOWN[:count])
    for number in range(len(KNOWN) + 1, count + 1):
        price = 10.0 + (number * 37) % 390
        chosen.append(
            Stock(f"SIM{number:03d}", f"Simulated Holdings {number}", "SIMX", "USD", price)
        )
    return chosen
