# dkimtool: the two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
comma  := ,

.PHONY: demo test lint typecheck unit peers milter-extra bench clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test$(if $(wildcard /usr/include/libmilter/mfapi.h),$(comma)milter)]'
	touch $(STAMP)

# genkey -> sign -> verify, offline, on the bundled example message.
demo: $(STAMP)
	sh examples/demo.sh $(BIN)/dkimtool

# Installs the peer tools (OpenDKIM, Mail::DKIM, BIND utils, knot, unbound) when root.
peers:
	sh scripts/install-peers.sh

# Regenerates man/ and completions/ from the click definitions; make test fails when they
# are stale (tests/unit/test_docs_sync.py), so run this after changing an option or help text.
docs: $(STAMP)
	$(BIN)/python tools/gen_docs.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# peers may just have installed libmilter-dev: then add the milter extra (pymilter, which
# builds against it), before anything checks or tests the milter.
milter-extra: $(STAMP)
	@[ ! -e /usr/include/libmilter/mfapi.h ] || $(BIN)/python -c 'import Milter' 2>/dev/null \
		|| $(BIN)/pip install -q -e '.[test,milter]'

test: $(STAMP) peers milter-extra lint typecheck
	$(BIN)/pytest -q -ra

# The benchmark runs an ordinary (non-editable) install, as users have it: an editable
# install adds an import hook that costs every Python start, dkimsign's included, ~10 ms.
BENCH_VENV := .venv-bench
bench: $(STAMP) peers
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q . 'dkimpy==1.1.8' 'pynacl>=1.5'  # as in the test extra
	$(BENCH_VENV)/bin/pip install -q --no-deps --force-reinstall .
	rm -rf build
	$(BENCH_VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) build dist *.egg-info demo
