# Two commands do everything (see README):
#   make lab    set up (venv + system packages when root) and open JupyterLab on notebooks/
#   make test   set up and run every test: lint, unit, registry-backed, notebooks, and the
#               wheel installed in a fresh venv outside the repository
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.archlab-installed

.PHONY: lab test lint system-deps bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

system-deps:
	@bash tools/system-deps

lint: $(STAMP)
	$(BIN)/ruff check archlab tests tools benchmarks

# Two workers, one file per worker at a time: notebooks run cell by cell in one kernel, and the
# registry/Docker fixtures are per module. Then the wheel, installed in a fresh venv elsewhere.
test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest tests notebooks --nbval -n 2 --dist loadfile -p no:cacheprovider
	PYTHON=$(PYTHON) bash tools/test-installed

# JupyterLab on 127.0.0.1, opening 00 through the link it prints (archlab/cli/course.py):
# a checkout already holds the course, so nothing is copied.
lab: $(STAMP) system-deps
	$(BIN)/python -m archlab course .

bench: $(STAMP) system-deps
	$(BIN)/python benchmarks/lab_up.py
	$(BIN)/python benchmarks/survey_bench.py
	$(BIN)/python benchmarks/course_start.py
	$(BIN)/python benchmarks/course_nbval.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
