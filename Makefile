# dataprep-toolkit: two commands do everything on a fresh machine: `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SAMPLE := datasets/sample
OUT    ?= build/sample-thumbs
PETS   ?= build/sample-pets

.PHONY: help venv demo sample lint test test-unit test-integration test-notebooks test-browser bench bench-curation lab clean

help:
	@echo "make demo    create $(VENV), install, build 128 px thumbnails of $(SAMPLE) into $(OUT),"
	@echo "             then a curated dataset of its class folders (labels, filters, duplicates, splits) into $(PETS)"
	@echo "make test    the same set-up, then every test tier (lint, unit, integration, notebooks, browser)"
	@echo "make bench   benchmarks (thumbnails vs seed loops; memory; video)"
	@echo "make bench-curation   curation's three figures (re-curation, the facts' CPU, near duplicates at 1M; ~45 min)"
	@echo "make lab     JupyterLab in the project's environment, dashboard through jupyter-server-proxy"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e ".[notebook,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (dataprep)" >/dev/null
	touch $@

venv: $(VENV)/.installed

sample: venv
	$(PY) datasets/make_sample.py --out $(SAMPLE)

# exit status 1 means "done, some files failed": the sample holds deliberately broken files
demo: sample
	$(VENV)/bin/dataprep build --input $(SAMPLE) --output $(OUT) --op thumbnail --size 128 || test $$? -eq 1
	@echo "outputs: $(OUT)/   manifest: $(OUT)/manifest.jsonl   (the sample holds deliberately broken files: they are listed as failed)"
	@echo
	@echo "the classifier recipe on the class folders $(SAMPLE)/pets/{bird,cat,dog,fish}: labelled, filtered, deduplicated, split, exported"
	$(VENV)/bin/dataprep build --recipe classifier --input $(SAMPLE)/pets --output $(PETS) --min-sharpness 20 || test $$? -eq 1
	@echo "dataset: $(PETS)/   card: $(PETS)/README.md   exports: webdataset/ imagefolder/ parquet/   manifest: $(PETS)/manifest.parquet"
	@echo "load it in Python:"
	@echo "    import toolkit"
	@echo "    ds = toolkit.load(\"$(PETS)\", \"hf\")          # a datasets.DatasetDict: train, val, test"
	@echo "    print(ds[\"train\"][0][\"label\"], ds[\"train\"].features[\"label\"].names)"

# the notebook tier runs the notebooks on the sample itself, as a user does after `make demo`
test: sample
	$(MAKE) lint
	$(PY) -m pytest -m "not integration and not notebook and not browser" -q
	$(PY) -m pytest -m "integration" -q
	$(PY) -m pytest -m "notebook" -q
	$(PY) -m pytest -m "browser" -q

# the lint tier: seconds, fails fast (pyflakes rules, the house format, types)
lint: venv
	$(VENV)/bin/ruff check toolkit tests benchmarks datasets
	$(VENV)/bin/ruff format --check toolkit tests benchmarks datasets
	$(VENV)/bin/mypy
test-unit: venv
	$(PY) -m pytest -m "not integration and not notebook and not browser" -q
test-integration: venv
	$(PY) -m pytest -m integration -q
test-notebooks: sample
	$(PY) -m pytest -m notebook -q
test-browser: venv
	$(PY) -m pytest -m browser -q

bench: venv
	$(PY) benchmarks/thumbnails.py
	$(PY) benchmarks/memory.py
	$(PY) benchmarks/video.py
	$(PY) benchmarks/dataset.py

# issue 15's figures, on a quiet machine (benchmarks/README.md, "Curation: the three figures")
bench-curation: venv
	$(PY) benchmarks/recurate.py
	$(PY) benchmarks/facts_cost.py --build --repeats 6
	$(PY) benchmarks/near_groups.py --distances 6,8,10,12

lab: venv
	JUPYTERHUB_SERVICE_PREFIX=$${JUPYTERHUB_SERVICE_PREFIX:-/} \
	DASK_DISTRIBUTED__DASHBOARD__LINK="{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status" \
	  $(VENV)/bin/jupyter lab --ip 127.0.0.1 --notebook-dir notebooks

clean:
	rm -rf build test-artifacts .pytest_cache
