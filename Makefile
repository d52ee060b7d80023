# pbx-bridge: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup host venv lab demo test unit lab-test bench load clean

setup: host venv lab

host:
	bash scripts/setup-host.sh

venv: $(VENV)/.installed
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

lab:
	bash lab/build.sh

# The main job on the embedded default: the lab Asterisk, the daemon on SQLite, calls of each
# outcome, then what it recorded.
demo: setup
	$(BIN)/python scripts/demo.py

# Every test: unit tests, transcript replays and the lab integration tests.
test: setup
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest tests/unit

bench: venv
	$(BIN)/python bench/ami_pipeline.py

# Load: SIPp keeps 200+ calls up in the lab for 150 s while the daemon records them; prints
# the figures and writes bench/results/load-*.json (about 4 minutes, root, the lab's lock).
load: setup
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache demo-out
