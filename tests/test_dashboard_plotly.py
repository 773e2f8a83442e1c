"""The dashboard's plotly.js: the finance bundle (`dashboard/vendor/fetch-plotly.sh`, run by
`make test` and `make up`) at the version Dash serves, asked for by every page instead of
Dash's full bundle, and drawing every trace type tickwire's charts use."""

from __future__ import annotations

from playwright.async_api import Browser
from plotly.offline import get_plotlyjs_version

from dashboard import browser as page_config
from tests.api_support import Api
from tests.browser_support import logged_in

#: Every trace type the dashboard's figures use: lines and sparklines, bars, the portfolio's
#: allocation, candles with their volume, the stat and gauge panels.
TRACES = {"scatter", "bar", "pie", "candlestick", "indicator"}


_DRAW_EACH = """async (kinds) => {
  const traces = {
    scatter: {type: 'scatter', x: [1, 2], y: [3, 4]},
    bar: {type: 'bar', x: ['a', 'b'], y: [1, 2]},
    pie: {type: 'pie', labels: ['a', 'b'], values: [1, 2], domain: {x: [0, 0.2]}},
    candlestick: {type: 'candlestick', x: [1, 2], open: [1, 2], high: [3, 4], low: [0, 1],
                  close: [2, 3]},
    indicator: {type: 'indicator', mode: 'number', value: 7, domain: {x: [0.8, 1]}},
  };
  const div = document.createElement('div');
  document.body.appendChild(div);
  await Plotly.newPlot(div, kinds.map(kind => traces[kind]));
  const shown = {};
  for (const trace of div._fullData) shown[trace.type] = trace.visible === true;
  div.remove();
  return shown;
}"""


def test_the_finance_bundle_is_fetched_at_dashs_plotly_version() -> None:
    assert page_config.FINANCE_JS.is_file(), "run `make plotly` (dashboard/vendor/fetch-plotly.sh)"
    head = page_config.FINANCE_JS.read_text()[:200]
    assert f"plotly.js (finance - minified) v{get_plotlyjs_version()}" in head


async def test_it_is_served_for_a_year_under_its_version(api: Api) -> None:
    async with api.client() as client:
        answer = await client.get(page_config.FINANCE_URL)
        assert answer.status_code == 200
        assert answer.content == page_config.FINANCE_JS.read_bytes()
        assert answer.headers["content-type"].startswith("text/javascript")
        assert "immutable" in answer.headers["cache-control"]
        # Another version's name, or a path out of the folder, is no file of it (a page
        # address: the app's index, as for any unknown page).
        for path in ("/_tickwire/plotly-finance-0.0.0.min.js", "/_tickwire/..%2Fapp.py"):
            other = await client.get(path)
            assert other.content != answer.content and "javascript" not in str(
                other.headers.get("content-type")
            ), path


async def test_pages_draw_with_the_finance_bundle_alone(api: Api, browser: Browser) -> None:
    page = await logged_in(browser, api, api.admin, "/markets")
    await page.wait_for_selector("#markets-chart .main-svg")  # the page's chart drawn
    scripts = await page.evaluate(
        "performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)"
    )
    assert page_config.FINANCE_URL in scripts
    assert page_config.PLOTLY_JS not in scripts  # Dash's full bundle never asked for
    assert await page.evaluate("Plotly.version") == get_plotlyjs_version()
    registered = set(await page.evaluate("Object.keys(Plotly.PlotSchema.get().traces)"))
    assert registered >= TRACES, TRACES - registered
    # One trace of each drawn by it, none left out (an unknown type is drawn invisible).
    shown = await page.evaluate(_DRAW_EACH, sorted(TRACES))
    assert shown == {kind: True for kind in sorted(TRACES)}
    await page.context.close()
