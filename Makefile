# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-heavy install clean bento chromium

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/churnrec demo

# The report's browser test needs headless Chromium: installed from the distribution's
# packages where it is missing and we may (root + apt-get); otherwise that test skips.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || \
	  echo "chromium not installed (not root or no apt-get): the report browser test will skip"

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not heavy"

# The few tests marked `heavy` (a clean venv with MLflow only, Spark's JVM, `bentoml build`, the
# whole demo): CI runs them after `make test` (.ci/run).
test-heavy: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m heavy

bento: $(STAMP)
	$(BIN)/bentoml build

clean:
	rm -rf data mlruns outputs
