"""The watchlist changes the markets page's buttons ask for: add a stock (with alert levels),
save a row's levels, remove a row, add an offered stock (an empty watchlist)."""

from __future__ import annotations

from typing import Any

from dashboard import client


def levels(ticker: str, above: Any, below: Any) -> dict[str, Any]:
    """A watchlist entry's body: an empty level is none."""
    return {
        "ticker": ticker,
        "alert_above": None if above in (None, "") else float(above),
        "alert_below": None if below in (None, "") else float(below),
    }


def by_ticker(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The values of a row input per ticker (a pattern-matching State: `id`, `value`)."""
    return {state["id"]["ticker"]: state.get("value") for state in inputs}


#: The row buttons of the watchlist editor (the pattern-matching ids' `type`).
ROW_BUTTONS = ("markets-save", "markets-remove", "markets-offer")


def is_button(found: Any) -> bool:
    """Whether `found` (from the browser) is the id of one of the editor's buttons."""
    if found == "markets-add":
        return True
    return (
        isinstance(found, dict)
        and found.get("type") in ROW_BUTTONS
        and isinstance(found.get("ticker"), str)
    )


async def act(
    trigger: Any,
    add: tuple[Any, Any, Any],
    aboves: dict[str, Any],
    belows: dict[str, Any],
) -> str:
    """The change the button `trigger` asks for (the add form's ticker and levels `add`, the
    rows' levels per ticker); a message for the page. ApiFailed if the API refuses."""
    if trigger == "markets-add":
        ticker, above, below = add
        if not ticker:
            return "Choose a stock to add."
        await client.request("POST", "/api/watchlist", json=levels(ticker, above, below))
        return f"Added {ticker}."
    kind, ticker = trigger["type"], trigger["ticker"]
    if kind == "markets-remove":
        await client.request("DELETE", f"/api/watchlist/{ticker}")
        return f"Removed {ticker}."
    if kind == "markets-offer":
        await client.request("POST", "/api/watchlist", json={"ticker": ticker})
        return f"Added {ticker}."
    body = levels(ticker, aboves.get(ticker), belows.get(ticker))
    await client.request("POST", "/api/watchlist", json=body)
    return f"Saved the alert levels of {ticker}."
