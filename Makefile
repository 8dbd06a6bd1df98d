# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test serve bench clean azurite chromium

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m shared.cli demo

test: $(BIN)/.installed azurite chromium
	$(BIN)/python -m pytest -q

# Azurite (Azure Storage emulator) for the media store tests, pinned by tests/azurite/package-lock.json.
AZURITE := tests/azurite/node_modules/.installed
azurite: $(AZURITE)
$(AZURITE): tests/azurite/package.json tests/azurite/package-lock.json
	npm ci --prefix tests/azurite --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium for the briefing page test (Playwright drives it; it downloads no browser).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
		else echo "chromium is missing and apt-get needs root: apt-get install -y chromium" >&2; exit 1; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	fi

serve: $(BIN)/.installed
	$(BIN)/python -m shared.cli serve

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/price_extraction.py
	$(BIN)/python benchmarks/pricing_engine.py
	$(BIN)/python benchmarks/webhook_latency.py
	$(BIN)/python -m shared.cli bench sync
	$(BIN)/python -m shared.cli bench pricing
	$(BIN)/python -m shared.cli bench scrape

clean:
	-$(BIN)/python -m shared.cli db-stop
	rm -rf .local out
