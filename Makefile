# Two entry points (see README): `make demo` and `make test`.
# Both create ./.venv with the project and everything it needs, from nothing but Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: demo test venv bench clean wordnet wordnet-if-root

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,plots]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP) wordnet-if-root
	$(BIN)/lse demo

test: $(STAMP) wordnet-if-root
	$(BIN)/python -m pytest -q tests

# WordNet 3.0 for the Wu-Palmer metric, from Debian's packages (no downloads): needs root.
wordnet: $(STAMP)
	$(BIN)/python -m lse.wordnet --install

# `make test` sets WordNet up when it can (root, e.g. CI); otherwise its tests skip with a reason.
wordnet-if-root: $(STAMP)
	@if [ "$$(id -u)" = 0 ]; then $(BIN)/python -m lse.wordnet --install; \
	else echo "not root: skipping WordNet set-up (run 'sudo make wordnet' for the WP tests)"; fi

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	@echo "benchmark extras installed; run e.g. $(BIN)/python benchmarks/bench_index.py"

clean:
	rm -rf $(VENV) build *.egg-info
