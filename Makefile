# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test serve bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m shared.cli demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

serve: $(BIN)/.installed
	$(BIN)/python -m shared.cli serve

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/price_extraction.py
	$(BIN)/python benchmarks/pricing_engine.py
	$(BIN)/python -m shared.cli bench sync
	$(BIN)/python -m shared.cli bench scrape

clean:
	-$(BIN)/python -m shared.cli db-stop
	rm -rf .local out
