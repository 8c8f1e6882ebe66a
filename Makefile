# The two commands of the README: `make demo` and `make test`.
VENV := .venv
STAMP := $(VENV)/.installed
WK := $(VENV)/bin/watchkeeper

.PHONY: demo test lint typecheck unit install clean

$(STAMP): requirements.lock pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh

install: $(STAMP)

demo: $(STAMP)
	$(WK) demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) build *.egg-info
