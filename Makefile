# Two commands for a fresh machine: `make demo` and `make test`.
# Both create (or reuse) the virtual environment in .venv and install everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Keep glibc from handing large activation buffers back to the OS after every
# forward pass (see docs/performance.md); applied to every entry point here. The value is
# defined once, in sklearn_samplecnn/tunables.py (read here without starting Python).
export GLIBC_TUNABLES ?= $(shell sed -n 's/^GLIBC_TUNABLES = "\(.*\)"$$/\1/p' sklearn_samplecnn/tunables.py)

.PHONY: install demo test lint bench bench-gpu clean

# pyproject.toml holds the requirements; constraints.txt pins this environment's versions
# (torch 2.13.0, CPU build) within them.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[tests]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) examples/demo.py $(DEMO_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check sklearn_samplecnn tests benchmarks examples docs scripts

test: lint
	$(PY) -m pytest -q tests sklearn_samplecnn $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(PY) benchmarks/run_all.py --quick

# One script measures everything GPU-related in a few minutes (needs a CUDA torch).
bench-gpu: $(VENV)/.installed
	$(PY) benchmarks/gpu_check.py --out bench_results/gpu_check.json

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache demo_output bench_results
