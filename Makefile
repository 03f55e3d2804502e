# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install system demo test lint format corpus clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The speaker encoder's weights ship in resemblyzer's wheel; its declared dependencies
	# (an old webrtcvad, the typing backport, librosa) are not needed to read them.
	$(BIN)/python -m pip install --quiet --no-deps 'resemblyzer==0.1.4'
	touch $@

demo: install
	$(BIN)/smart-tuner demo $(ARGS)

# Debian packages the tests use (PostgreSQL, Chromium, ...): .ci/apt-packages.txt
system:
	bash scripts/install_system_packages.sh

test: install system
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate the embedded demo corpora (needs Debian's festival, festvox-kallpc16k, festvox-ru).
corpus: install
	$(BIN)/python scripts/make_demo_corpus.py --lang all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
