# Two entry points for a newcomer: `make demo` (set up, then paint the bundled example)
# and `make test` (set up, then run the test suite). Both create .venv on first use.

PY ?= python3
VENV ?= .venv
# The CPU wheel of torch on this project's machines; an unpinned or newer torch
# would download a multi-GB CUDA build. Override on other machines, e.g.
#   make test TORCH_SPEC='torch>=2.4'
TORCH_SPEC ?= torch==2.13.0
PIP = $(VENV)/bin/python -m pip
OUT ?= out/landscape

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q '$(TORCH_SPEC)'
	$(PIP) install -q -e '.[ray,dev]'
	touch $@

demo: setup
	$(VENV)/bin/animatepainter paint planner/data/examples/landscape.png -o $(OUT)

test: setup
	$(VENV)/bin/python -m pytest -n 2 --durations=15 tests

bench: setup
	for b in bench/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) out build dist *.egg-info
