# Set-up, demo, tests and benchmarks. Everything runs inside ./.venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench bench-clustering bench-keyphrases clean

setup: $(VENV)/.installed

# torch is pinned to the CPU build cached on our machines; an unpinned torch pulls GBs of CUDA packages.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[test]'
	touch $@

demo: setup
	$(BIN)/semsearch index data/articles data/notes.jsonl -i demo-index
	$(BIN)/semsearch search "how do vaccines train the immune system" -k 5 -i demo-index

test: setup
	$(BIN)/ruff check semsearch tests bench
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/run_all.py

bench-clustering: setup
	$(BIN)/python bench/clustering_agnews.py --json bench/results/clustering_agnews.json

# Inspec keyphrases beside YAKE and KeyBERT (about 3 s per document for KeyBERT: try LIMIT=100).
bench-keyphrases: setup
	$(BIN)/pip install -e '.[bench]'
	$(BIN)/python bench/keyphrases_inspec.py $(if $(LIMIT),--limit $(LIMIT))

clean:
	rm -rf demo-index .pytest_cache .ruff_cache
