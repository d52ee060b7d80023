# pbx-bridge: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup host venv lab demo test unit lab-test bench load clean install uninstall wheelhouse

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

# Every test: the import contract (setup.cfg [importlinter]), unit tests, transcript replays and the
# lab integration tests. Two pytest workers: the lab's tests (one xdist group, tests/integration/
# conftest.py) run one after another on one of them, mostly waiting on calls, while the other
# runs the CPU-bound unit tests beside them.
PYTEST_WORKERS ?= 2
test: setup
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -n $(PYTEST_WORKERS)

unit: venv
	$(BIN)/pytest tests/unit

bench: venv
	$(BIN)/python bench/ami_pipeline.py

# On a PBX host, as root: the package in a virtualenv at PREFIX, config, unit, Asterisk snippets
# (scripts/install.sh says what each does). DESTDIR stages the files instead; WHEELHOUSE=DIR
# installs offline from wheels.
PREFIX         ?= /opt/pbx-bridge
INSTALL_PYTHON ?= /usr/bin/python3
install:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" PYTHON="$(INSTALL_PYTHON)" WHEELHOUSE="$(WHEELHOUSE)" \
		bash scripts/install.sh

uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" bash scripts/install.sh --uninstall

# For a PBX host without PyPI: on a connected machine of the same Debian and Python, then copy DIR
# and the repository over and run `make install WHEELHOUSE=DIR`.
wheelhouse: venv
	@test -n "$(WHEELHOUSE)" || { echo "usage: make wheelhouse WHEELHOUSE=DIR" >&2; exit 2; }
	$(BIN)/pip wheel -q --wheel-dir "$(WHEELHOUSE)" .
	$(BIN)/pip download -q --dest "$(WHEELHOUSE)" 'setuptools>=68'

# Load: SIPp keeps 200+ calls up in the lab for 150 s while the daemon records them, on SQLite
# then PostgreSQL; prints the figures side by side and writes bench/results/load-*.json (about
# 8 minutes, root, the lab's lock).
load: setup
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache demo-out
