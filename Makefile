# rdsweep: `make sweep` runs the main job, `make test` the tests; both install what is missing first.
PYTHON ?= python3
# one install stamp per interpreter and extras (a new virtualenv installs again), redone when pyproject.toml changes
PYKEY := $(shell $(PYTHON) -c 'import sys, hashlib; print(hashlib.sha1(sys.prefix.encode()).hexdigest()[:10])')
# MNIST IDX files: RDSWEEP_DATA_DIR if set, else ../shared/data/mnist when present, else data/mnist
ifeq ($(origin RDSWEEP_DATA_DIR), undefined)
ifneq ($(wildcard ../shared/data/mnist/.),)
export RDSWEEP_DATA_DIR := $(abspath ../shared/data/mnist)
endif
endif
RDSWEEP := $(PYTHON) -m rdsweep.cli
LMBDA ?= 500
LAMBDAS ?= 300,500,1000,2000
EPOCHS ?= 5
PRIOR ?= deep_factorized
MODEL ?= seed
SEEDS ?= 0
SWEEPS ?= outputs/sweeps
BASELINES ?= outputs/baselines
HIGHRATE ?= outputs/highrate
HIGH_LAMBDAS ?= 100000,1000000,10000000,100000000
HIGH_EPOCHS ?= 126
RUN ?= $(SWEEPS)/mnist-$(MODEL)-$(PRIOR)-mae-d50-e$(EPOCHS)-s0/lmbda=2000
LATENTS ?= 5,10,20,50,100
LATENT_LAMBDAS ?= 500,2000
LAUNCHER ?= basic# basic (one job at a time), joblib (local processes), slurm (PARTITION=...)
PARTITION ?=
ARGS ?=

LAUNCHER_basic :=
LAUNCHER_joblib := hydra/launcher=joblib
LAUNCHER_slurm := hydra/launcher=slurm $(if $(PARTITION),hydra.launcher.partition=$(PARTITION),)
ifeq ($(filter $(strip $(LAUNCHER)),basic joblib slurm),)
$(error LAUNCHER=$(LAUNCHER) is not one of basic, joblib, slurm)
endif
HYDRA_LAUNCHER := $(LAUNCHER_$(strip $(LAUNCHER)))
comma := ,
EXTRAS := dev$(if $(filter joblib slurm,$(strip $(LAUNCHER))),$(comma)launchers,)

STAMP := .make/install-$(PYKEY)-$(subst $(comma),-,$(EXTRAS))
# the stamp also goes stale when this interpreter's rdsweep is not this checkout (another clone installed over it)
HERE := $(shell $(PYTHON) -c 'import sys; sys.path.pop(0); import importlib.util as u, os; s = u.find_spec("rdsweep"); \
  sys.exit(s is None or os.path.realpath(list(s.submodule_search_locations)[0]) != os.path.realpath(sys.argv[1]))' \
  '$(CURDIR)/rdsweep' 2>/dev/null && echo yes)

.PHONY: install run sweep table baselines figures highrate-sweep latent-sweep bench bench-peer test test-all test-cluster clean

install: $(STAMP)
$(STAMP): pyproject.toml $(if $(HERE),,FORCE)
	$(PYTHON) -m pip install -q -e '.[$(EXTRAS)]'
	@mkdir -p $(dir $@) && touch $@

run: $(STAMP)            ## one lambda: make run LMBDA=2000 ARGS="prior=logistic"
	$(PYTHON) -m rdsweep lmbda=$(LMBDA) model=$(MODEL) prior=$(PRIOR) $(ARGS)

sweep: $(STAMP)          ## the main job: multirun over LAMBDAS (x SEEDS), then the aggregation stage
	$(PYTHON) -m rdsweep -m lmbda=$(LAMBDAS) seed=$(SEEDS) train.epochs=$(EPOCHS) model=$(MODEL) prior=$(PRIOR) \
	  hydra.sweep.dir=$(SWEEPS) $(HYDRA_LAUNCHER) $(ARGS); \
	status=$$?; $(RDSWEEP) aggregate $(SWEEPS) $(wildcard $(HIGHRATE) $(BASELINES)) --out $(SWEEPS) && exit $$status

table: $(STAMP)          ## re-aggregate existing runs (+ high-rate runs and baselines if any) -> rd.csv, table1.md, rd_curve, bd.csv
	$(RDSWEEP) aggregate $(SWEEPS) $(wildcard $(HIGHRATE) $(BASELINES)) --out $(SWEEPS)

baselines: $(STAMP)      ## DCT, 8x8 DCT, PCA, PNG/JPEG/WebP/JPEG 2000/AVIF/JPEG XL records into OUT, then the table
	$(PYTHON) -m pip install -q -e '.[baselines]'
	$(RDSWEEP) baselines --out $(or $(OUT),$(BASELINES))
	$(RDSWEEP) aggregate $(SWEEPS) $(wildcard $(HIGHRATE)) $(or $(OUT),$(BASELINES)) --out $(SWEEPS)

figures: $(STAMP)        ## the report's figures from one trained run (default: the sweep's lambda=2000 run)
	$(RDSWEEP) figures $(RUN)

highrate-sweep: $(STAMP) ## the high-rate setting (MSE, latent 256, 126 epochs, cosine) over HIGH_LAMBDAS -> outputs/highrate
	$(PYTHON) -m rdsweep -m lmbda=$(HIGH_LAMBDAS) distortion=mse latent_dims=256 train.epochs=$(HIGH_EPOCHS) \
	  train.lr_schedule=cosine seed=$(SEEDS) \
	  model=$(MODEL) prior=$(PRIOR) hydra.sweep.dir=$(HIGHRATE) $(HYDRA_LAUNCHER) $(ARGS); \
	status=$$?; $(RDSWEEP) aggregate $(SWEEPS) $(wildcard $(HIGHRATE) $(BASELINES)) --out $(SWEEPS) && exit $$status

latent-sweep: $(STAMP)   ## latent_dims in LATENTS at two lambdas -> outputs/latent (rd.csv, latent_study.png)
	$(PYTHON) -m rdsweep -m latent_dims=$(LATENTS) lmbda=$(LATENT_LAMBDAS) seed=$(SEEDS) train.epochs=$(EPOCHS) \
	  model=$(MODEL) prior=$(PRIOR) hydra.sweep.dir=outputs/latent $(HYDRA_LAUNCHER) $(ARGS); \
	status=$$?; $(RDSWEEP) aggregate outputs/latent && exit $$status

bench: $(STAMP)          ## speed/overhead/memory table (ARGS="--slow-layers", "--run RUN_DIR", "--profile")
	$(RDSWEEP) bench $(ARGS)

bench-peer: $(STAMP)     ## ours vs the TensorFlow Compression reference, side by side (ARGS="--repeats 3 --sweep")
	$(PYTHON) benchmarks/compare.py $(ARGS)

test: $(STAMP)           ## the test suite without the slow tests (CI: .ci/run)
	$(PYTHON) -m pytest -m "not slow" -q

test-all: $(STAMP)       ## every test, the slow ones too (10k-digit round trip, the wheel in a fresh venv)
	$(PYTHON) -m pytest -q

test-cluster: $(STAMP)   ## the SLURM launcher on a local one-node SLURM cluster (needs root and apt; not in make test)
	$(MAKE) --no-print-directory install LAUNCHER=slurm
	PYTHON=$(PYTHON) cluster/test-cluster.sh

FORCE:

clean:
	rm -rf .make .pytest_cache .hypothesis
