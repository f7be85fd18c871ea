# Two commands a newcomer needs: `make demo` and `make test`. Both set up .venv themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; a bare `torch` would pull a multi-GB CUDA wheel. Override on a GPU machine.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?= -m "not gpu and not slow"
export MUJOCO_GL ?= egl

.PHONY: install demo test test-all lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed
	$(VENV)/bin/foretell doctor

demo: install
	$(VENV)/bin/foretell envs show foretell/BlockStack-v0 --seed 0 --policy expert --out runs/demo/blockstack.mp4

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest -q -m "not gpu"

bench: install
	$(PY) benchmarks/envs.py --out runs/bench/envs.json
	$(PY) benchmarks/ground_truth.py --out runs/bench/ground_truth.json
	$(PY) benchmarks/data.py --out runs/bench/data.json
	$(PY) benchmarks/worldmodel.py --out runs/bench/worldmodel.json

clean:
	rm -rf $(VENV) runs build *.egg-info
