# Two entry points (see README): `make demo` and `make test`.
# Both create ./.venv with the project and everything it needs, from nothing but Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: demo test venv bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,plots]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/lse demo

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"

clean:
	rm -rf $(VENV) build *.egg-info
