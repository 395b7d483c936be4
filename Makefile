# rdsweep: `make sweep` runs the main job, `make test` the tests; both install what is missing first.
PYTHON ?= python3
STAMP := .make/install.stamp
# MNIST IDX files: RDSWEEP_DATA_DIR if set, else ../shared/data/mnist when present, else data/mnist
ifeq ($(origin RDSWEEP_DATA_DIR), undefined)
ifneq ($(wildcard ../shared/data/mnist/.),)
export RDSWEEP_DATA_DIR := $(abspath ../shared/data/mnist)
endif
endif
LMBDA ?= 500
ARGS ?=

.PHONY: install run sweep test test-all clean

install: $(STAMP)
$(STAMP): pyproject.toml
	$(PYTHON) -m pip install -q -e '.[dev]'
	@mkdir -p $(dir $@) && touch $@

run: $(STAMP)            ## one lambda: make run LMBDA=2000 ARGS="prior=logistic"
	$(PYTHON) -m rdsweep lmbda=$(LMBDA) $(ARGS)

sweep: $(STAMP)          ## the main job (the single default lambda until the sweep lands)
	$(PYTHON) -m rdsweep lmbda=$(LMBDA) $(ARGS)

test: $(STAMP)
	$(PYTHON) -m pytest -m "not slow" -q

test-all: $(STAMP)
	$(PYTHON) -m pytest -q

clean:
	rm -rf .make .pytest_cache .hypothesis
