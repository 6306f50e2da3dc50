# codeassist — every target is idempotent: a second run skips finished steps in seconds.
# `make demo`  : set everything up, install the default model tier, then complete code in examples/ with it.
# `make test`  : set everything up, then lint, type-check and run the whole test suite (real model, real dockerd).

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
STATE := .state
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test check lint typecheck pytest test-vscode vscode-e2e-tools docker-up sandbox-image model model-default llama-server bench bench-quick bench-bugfix bench-verify bench-repos bench-calibrate bench-explain clean

setup: $(STATE)/apt $(STATE)/deps model docker-up sandbox-image

$(STATE)/apt: scripts/install-apt.sh
	@mkdir -p $(STATE)
	bash scripts/install-apt.sh
	@touch $@

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools

$(STATE)/llama: $(PY) scripts/install-llama.sh
	@mkdir -p $(STATE)
	bash scripts/install-llama.sh $(PY)
	@touch $@

$(STATE)/deps: $(STATE)/llama pyproject.toml setup.py
	$(PY) -m pip install -q -e ".[dev,model,bench]"
	@touch $@

# The embedded tier (a dependency of codeassist[model]): what the tests run on, and the fallback.
model: $(STATE)/deps
	@$(BIN)/codeassist model install qwen2.5-coder-0.5b

# The default completion tier, chosen on the real-repository suite (bench/RESULTS-repos.md); downloads its parts once.
model-default: $(STATE)/deps
	@$(BIN)/codeassist model install qwen2.5-coder-1.5b

docker-up: $(STATE)/apt
	@bash scripts/ensure-dockerd.sh

sandbox-image: $(STATE)/deps docker-up
	@$(BIN)/codeassist sandbox build

demo: setup model-default
	@$(PY) scripts/demo.py

lint: $(STATE)/deps
	$(BIN)/ruff check codeassist server sandbox tests bench scripts
	$(BIN)/ruff format --check codeassist server sandbox tests bench

# mypy cannot follow setuptools' editable import hook, so it checks a link farm laid out as installed.
typecheck: $(STATE)/deps
	@rm -rf build/typecheck && mkdir -p build/typecheck/codeassist
	@for f in codeassist/*; do ln -s "$$PWD/$$f" build/typecheck/codeassist/; done
	@ln -s "$$PWD/server" build/typecheck/codeassist/server && ln -s "$$PWD/sandbox" build/typecheck/codeassist/sandbox
	cd build/typecheck && ../../$(BIN)/mypy --strict --config-file ../../pyproject.toml -p codeassist

# llama-server from the llama.cpp vendored in the llama-cpp-python sdist (tests of the remote backends run it);
# the script returns at once when the binaries exist.
llama-server: $(STATE)/deps
	@bash bench/build_llama_cpp.sh

pytest: setup llama-server
	$(BIN)/pytest -q -m "not vscode"

check: lint typecheck

# The extension inside a real VS Code (code-server + Debian's Chromium + Playwright), against the real server.
# Tooling: scripts/install-vscode-e2e.sh, cached in build/vscode-e2e/ (first time ~5 min, then ~1 s).
vscode-e2e-tools: $(STATE)/deps
	@bash scripts/install-vscode-e2e.sh $(PY)

test-vscode: setup vscode-e2e-tools
	CODEASSIST_REQUIRE_VSCODE_E2E=1 $(BIN)/pytest -q -m vscode tests/editors/test_vscode_e2e.py

test: setup check pytest test-vscode

bench-quick: setup
	$(PY) -m bench.run --quick

bench: setup
	$(PY) -m bench.run

# The bug-fix benchmark over the whole bug set (~1-2 h on 2 cores); resumable: rerun to carry on after an interruption.
bench-bugfix: setup
	$(PY) -m bench.bugfix_bench --n 164 --resume --out build/bench/bugfix-full.json --rows build/bench/bugfix-full-rows.jsonl

# Verify-before-suggest precision/coverage on all 1,033 single-line infilling holes (~25 min on 2 cores).
bench-verify: setup
	$(PY) -m bench.verify_infill --n 1033 --out build/bench/verify-infill-full.json

# The real-repository suite (bench/repos.toml; hours on 2 busy cores): the four baseline systems in one run,
# resumable — rerun to carry on. Quick looks: python -m bench.repos --repos inflection,toolz --holes-per-repo 5
bench-calibrate: setup
	$(PY) -m bench.calibrate_gate --run build/bench-repos/runs/suite --out bench/calibration/gate-qwen2.5-coder-1.5b.json

bench-repos: setup
	nice -n 5 $(PY) -m bench.repos --resume --out build/bench-repos/runs/suite

# Explanations measured by a round trip (issue 13): explain each function (the product's explain service), regenerate
# its body from signature / docstring / explanation, judge in the sandbox; HumanEval's 164 + 20 suite functions on
# the explain tier (hours on 2 cores); resumable. Quick look: python -m bench.explain_roundtrip --limit 10 --repo-limit 5
bench-explain: setup
	nice -n 10 $(PY) -m bench.explain_roundtrip --resume

clean:
	rm -rf build dist $(STATE) .mypy_cache .ruff_cache .pytest_cache
