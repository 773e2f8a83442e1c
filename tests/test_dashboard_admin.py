"""The admin page in a real Chromium: the admin creates, edits and deletes a device, a stock and
an alert rule (checked through the API); API errors are shown; a non-admin gets no admin page."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.async_api import Browser, Dialog, Page

from dashboard.admin import specs as admin_specs
from tests.api_support import Api
from tests.browser_support import logged_in, screenshot
from tests.support import unique


def control(entity: str, kind: str, **more: str) -> str:
    """The CSS selector of a pattern-matching component (Dash renders the id as sorted JSON)."""
    ident = json.dumps({"entity": entity, "type": f"admin-{kind}", **more}, sort_keys=True)
    return f"[id='{ident.replace(' ', '')}']"


async def fill(page: Page, entity: str, **values: str) -> None:
    for name, value in values.items():
        await page.fill(control(entity, "field", field=name), value)


async def choose(page: Page, entity: str, name: str, option: str) -> None:
    await page.click(control(entity, "field", field=name))
    await page.get_by_role("option", name=option, exact=True).click()


async def save(page: Page, entity: str, expect: str) -> None:
    await page.click(control(entity, "save"))
    await page.wait_for_selector(f"#admin-{entity} .admin-message >> text={expect}")


async def row(page: Page, entity: str, key: object) -> str:
    selector = f"[id='admin-{entity}-{key}']"
    await page.wait_for_selector(selector, timeout=10_000)
    return await page.inner_text(selector)


async def delete(page: Page, entity: str, key: object) -> None:
    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.once("dialog", accept)
    await page.click(f"[id='admin-{entity}-{key}'] .admin-delete")
    await page.wait_for_selector(f"[id='admin-{entity}-{key}']", state="detached", timeout=10_000)


async def admin_page(browser: Browser, api: Api) -> Page:
    page = await logged_in(browser, api, api.admin, "/admin")
    await page.wait_for_selector("#admin-rules", timeout=15_000)
    return page


async def read(api: Api, path: str) -> httpx.Response:
    async with api.client(api.admin) as client:
        return await client.get(path)


async def test_admin_manages_a_stock(api: Api, browser: Browser) -> None:
    page = await admin_page(browser, api)
    ticker = "TW" + unique("")[-4:].upper()
    await fill(page, "stocks", ticker=ticker, name="Tickwire Inc", currency="USD")
    await save(page, "stocks", f"Created stock {ticker}.")
    assert "Tickwire Inc" in await row(page, "stocks", ticker)
    stock = (await read(api, f"/api/stocks/{ticker}")).json()
    assert stock["currency"] == "USD" and stock["shared"] is True
    await page.click(f"[id='admin-stocks-{ticker}'] >> text=Edit")
    await page.wait_for_selector(f"text=Edit stock {ticker}")
    assert await page.is_disabled(control("stocks", "field", field="ticker"))
    await fill(page, "stocks", name="Tickwire Corp", exchange="")
    await save(page, "stocks", f"Saved stock {ticker}.")
    await page.wait_for_selector(f"[id='admin-stocks-{ticker}'] >> text=Tickwire Corp")
    assert (await read(api, f"/api/stocks/{ticker}")).json()["name"] == "Tickwire Corp"
    await screenshot(page, "admin")
    await delete(page, "stocks", ticker)
    assert (await read(api, f"/api/stocks/{ticker}")).status_code == 404
    await page.context.close()


async def test_admin_manages_a_device_and_sees_api_errors(api: Api, browser: Browser) -> None:
    page = await admin_page(browser, api)
    device = unique("adm")
    await fill(page, "devices", device_id=device, name="Boiler room", tickers="NOPE")
    await save(page, "devices", "NOPE")  # an unknown ticker: the API's message, shown
    await fill(page, "devices", tickers="", offline_timeout_s="20")
    await save(page, "devices", f"Created device {device}.")
    assert "Boiler room" in await row(page, "devices", device)
    await page.click(f"[id='admin-devices-{device}'] >> text=Edit")
    await page.wait_for_selector(f"text=Edit device {device}")
    await fill(page, "devices", name="Cellar", offline_timeout_s="45")
    await save(page, "devices", f"Saved device {device}.")
    await page.wait_for_selector(f"[id='admin-devices-{device}'] >> text=Cellar")
    found: dict[str, Any] = (await read(api, f"/api/devices/{device}")).json()
    assert found["name"] == "Cellar" and found["offline_timeout_s"] == 45
    await delete(page, "devices", device)
    assert (await read(api, f"/api/devices/{device}")).status_code == 404
    await page.context.close()


async def test_admin_manages_an_alert_rule(api: Api, browser: Browser) -> None:
    page = await admin_page(browser, api)
    await fill(page, "rules", name="too hot")
    await choose(page, "rules", "kind", "THRESHOLD")
    await save(page, "rules", "is required for THRESHOLD")  # no device, metric…: refused
    await choose(page, "rules", "kind", "HIGH_TEMP")
    await fill(page, "rules", threshold="35", device_kind="sensor")  # a fleet rule, one kind
    await choose(page, "rules", "severity", "critical")
    await save(page, "rules", "Created rule")
    rules = (await read(api, "/api/alert-rules")).json()["items"]
    assert len(rules) == 1 and rules[0]["threshold"] == 35 and rules[0]["severity"] == "critical"
    assert rules[0]["device_id"] is None and rules[0]["device_kind"] == "sensor"
    rule_id = rules[0]["id"]
    assert "too hot" in await row(page, "rules", rule_id)
    assert "any of the owner's sensors" in await row(page, "rules", rule_id)
    await page.click(f"[id='admin-rules-{rule_id}'] >> text=Edit")
    await page.wait_for_selector(f"text=Edit rule {rule_id}")
    await fill(page, "rules", threshold="40")
    await page.uncheck(control("rules", "field", field="enabled") + " input")
    await save(page, "rules", f"Saved rule {rule_id}.")
    await page.wait_for_selector(f"[id='admin-rules-{rule_id}'] >> text=temperature > 40")
    rule = (await read(api, f"/api/alert-rules/{rule_id}")).json()
    assert rule["threshold"] == 40 and rule["enabled"] is False
    await delete(page, "rules", rule_id)
    assert (await read(api, f"/api/alert-rules/{rule_id}")).status_code == 404
    await page.context.close()


async def test_a_user_gets_no_admin_page(api: Api, browser: Browser) -> None:
    user = await api.register("analyst")
    page = await logged_in(browser, api, user, "/admin")
    await page.wait_for_selector(".admin-denied >> text=Admins only", timeout=15_000)
    assert await page.locator("#admin-devices").count() == 0
    await page.context.close()


def test_form_values_become_api_bodies() -> None:
    values = {"device_id": " d-1 ", "name": "", "tickers": "AAPL, MSFT,", "offline_timeout_s": 20}
    assert admin_specs.body(admin_specs.DEVICES, values, creating=True) == {
        "device_id": "d-1",
        "tickers": ["AAPL", "MSFT"],
        "offline_timeout_s": 20.0,
    }
    # An edit never sends the key; empty fields stay unchanged unless the API lets them clear.
    assert admin_specs.body(admin_specs.DEVICES, values, creating=False) == {
        "tickers": ["AAPL", "MSFT"],
        "offline_timeout_s": 20.0,
    }
    stock = {"ticker": "X", "name": "", "exchange": None, "currency": "USD"}
    assert admin_specs.body(admin_specs.STOCKS, stock, creating=True) == {
        "ticker": "X",
        "currency": "USD",
    }
    assert admin_specs.body(admin_specs.STOCKS, stock, creating=False) == {
        "name": None,
        "exchange": None,
        "currency": "USD",
    }
    rule = {"name": "r", "kind": "HIGH_TEMP", "threshold": 35, "enabled": []}
    patch = admin_specs.body(admin_specs.RULES, rule, creating=False)
    assert patch["enabled"] is False and patch["threshold"] == 35.0 and patch["ticker"] is None
    assert "duration_s" not in patch
