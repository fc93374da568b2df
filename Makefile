# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create or reuse a virtual environment in .venv and install what they need.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of this version is on disk on the project's machines; elsewhere pip fetches it.
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.skcrystal-installed

.PHONY: demo test lint benchmark docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	# torch first: a dependency that asks for "torch" would otherwise pull a CUDA build.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -e ".[tests]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/skcrystal classify --baseline skcrystal/data/examples/*

test: $(STAMP)
	$(BIN)/python -m pytest

# ruff pinned: another version formats differently.
RUFF_VERSION ?= 0.17.6
# numpydoc pinned too: its checks change between versions. It validates the docstrings of the
# public modules with the checks of [tool.numpydoc_validation] in pyproject.toml.
NUMPYDOC_VERSION ?= 1.11.0
PUBLIC_MODULES = $(filter-out skcrystal/_%,$(wildcard skcrystal/*.py))
lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff==$(RUFF_VERSION) numpydoc==$(NUMPYDOC_VERSION)
	$(BIN)/ruff check skcrystal tests benchmarks examples docs/conf.py
	$(BIN)/ruff format --check skcrystal tests benchmarks examples docs/conf.py
	$(BIN)/python -m numpydoc lint $(PUBLIC_MODULES)

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_fingerprint.py

# The documentation, examples gallery included (the examples run during the build; warnings
# are errors). SPHINXOPTS="-D plot_gallery=0" skips running the examples.
SPHINXOPTS ?=
docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	$(BIN)/sphinx-build -W --keep-going -b html $(SPHINXOPTS) docs docs/_build/html

clean:
	rm -rf $(VENV) demo_output .pytest_cache .hypothesis
