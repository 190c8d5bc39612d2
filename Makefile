# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PRIORS ?= priors/baseline.toml
PATHS  ?= 1000000

.PHONY: run test lint bench gpu-wheels clean notebooks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[report]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# Each `make run` writes a new dated folder and points the link runs/baseline at it; a runs/baseline that is
# a real folder (not made here) is never overwritten.
run: $(VENV)/.installed
	$(BIN)/mc-engine priors check $(PRIORS) > /dev/null
	@if [ -e runs/baseline ] && [ ! -L runs/baseline ]; then \
	  echo "make run: runs/baseline is a folder make run did not make; move it away or run mc-engine run yourself" >&2; \
	  exit 1; fi
	@stamp=$$(date -u +%Y%m%d-%H%M%S); \
	$(BIN)/mc-engine run $(PRIORS) --paths $(PATHS) --out runs/baseline-$$stamp && \
	ln -sfn baseline-$$stamp runs/baseline && echo "runs/baseline -> runs/baseline-$$stamp"

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

notebooks: | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[notebooks]'
	cd notebooks && ../$(BIN)/jupyter lab

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

# The speed suite (benchmarks/, not part of the package); BENCH_ARGS=--full adds 1e7 (and 1e8 on a GPU).
bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Wheels for benchmarks/gpu.sh on an offline GPU machine (Python 3.12, x86-64 Linux) into benchmarks/wheels/.
gpu-wheels: | $(BIN)/python
	PYTHON=$(BIN)/python bash benchmarks/gpu_wheels.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
