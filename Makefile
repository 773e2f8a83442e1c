# One verb per task; each is a thin wrapper. `make up` and `make test` set up everything first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: up test test-fast check bench install broker browser plotly clean

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e ".[dev,devstack]"
	touch $@

install: $(VENV)/.installed

# Mosquitto (Debian package) when missing and we may install it: only its binary is used, so the
# service Debian starts on port 1883 is stopped again. `make up` falls back to amqtt without it.
broker:
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients && \
	     { systemctl disable --now mosquitto 2>/dev/null || service mosquitto stop 2>/dev/null || true; }) ; } || \
	  echo "note: mosquitto not installed (apt-get install mosquitto); using the slower amqtt"

# Debian's Chromium for the dashboard's browser tests (Playwright drives it; its own downloaded
# browsers are not used).
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ; } || \
	  { echo "the dashboard tests need Chromium: apt-get install chromium"; exit 1; }

# plotly.js' finance bundle for the dashboard (npm; without it, Dash's full plotly.js).
plotly:
	@sh dashboard/vendor/fetch-plotly.sh

up: install broker plotly
	$(PY) -m devstack

test: install broker browser plotly
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || \
	  { echo "the tests need Mosquitto: apt-get install mosquitto"; exit 1; }
	$(PY) -m pytest -n auto --dist worksteal

# The suite without the browser and the slow end-to-end runs (needs PostgreSQL and Mosquitto
# like the rest): a minute or two while working.
test-fast: install broker
	$(PY) -m pytest -n auto --dist worksteal -m "not browser and not slow"

check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

bench: install broker
	command -v npm >/dev/null && npm ci --silent --no-audit --no-fund --prefix bench/mqttjs || true
	$(PY) -m bench

clean:
	rm -rf $(VENV) .tickwire .pytest_cache .mypy_cache .ruff_cache dashboard/vendor/*.min.js
