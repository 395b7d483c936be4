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
LAMBDAS ?= 300,500,1000,2000
EPOCHS ?= 5
PRIOR ?= deep_factorized
SWEEPS ?= outputs/sweeps
BASELINES ?= outputs/baselines
AGG_DIRS = $(SWEEPS) $(wildcard $(BASELINES))
RUN ?= $(SWEEPS)/mnist-$(PRIOR)-mae-d50-e$(EPOCHS)-s0/lmbda=2000
LATENTS ?= 5,10,20,50,100
LATENT_LAMBDAS ?= 500,2000
LAUNCHER ?= basic       # basic (one job at a time) or joblib (local processes: pip install hydra-joblib-launcher)
ARGS ?=
HYDRA_LAUNCHER := $(if $(filter joblib,$(strip $(LAUNCHER))),hydra/launcher=joblib,)

.PHONY: install run sweep table baselines figures latent-sweep bench test test-all clean

install: $(STAMP)
$(STAMP): pyproject.toml
	$(PYTHON) -m pip install -q -e '.[dev]'
	@mkdir -p $(dir $@) && touch $@

run: $(STAMP)            ## one lambda: make run LMBDA=2000 ARGS="prior=logistic"
	$(PYTHON) -m rdsweep lmbda=$(LMBDA) $(ARGS)

sweep: $(STAMP)          ## the main job: multirun over LAMBDAS, then the aggregation stage
	$(PYTHON) -m rdsweep -m lmbda=$(LAMBDAS) train.epochs=$(EPOCHS) prior=$(PRIOR) $(HYDRA_LAUNCHER) $(ARGS); \
	status=$$?; $(PYTHON) -m rdsweep.aggregate $(AGG_DIRS) --out $(SWEEPS) && exit $$status

table: $(STAMP)          ## re-aggregate existing runs only (+ baselines if any) -> rd.csv, table1.md, rd_curve, bd.csv
	$(PYTHON) -m rdsweep.aggregate $(AGG_DIRS) --out $(SWEEPS)

baselines: $(STAMP)      ## DCT, 8x8 DCT, PCA, PNG/JPEG/WebP/JPEG 2000/AVIF/JPEG XL records into OUT, then the table
	$(PYTHON) -m rdsweep.baselines --out $(or $(OUT),$(BASELINES))
	$(PYTHON) -m rdsweep.aggregate $(SWEEPS) $(or $(OUT),$(BASELINES)) --out $(SWEEPS)

figures: $(STAMP)        ## the report's figures from one trained run (default: the sweep's lambda=2000 run)
	$(PYTHON) -m rdsweep.figures $(RUN)

latent-sweep: $(STAMP)   ## latent_dims in LATENTS at two lambdas -> outputs/latent (rd.csv, latent_study.png)
	$(PYTHON) -m rdsweep -m latent_dims=$(LATENTS) lmbda=$(LATENT_LAMBDAS) train.epochs=$(EPOCHS) prior=$(PRIOR) \
	  hydra.sweep.dir=outputs/latent 'hydra.sweep.subdir=d$${latent_dims}_lmbda$${lmbda}' $(HYDRA_LAUNCHER) $(ARGS); \
	status=$$?; $(PYTHON) -m rdsweep.aggregate outputs/latent && exit $$status

bench: $(STAMP)          ## speed/overhead/memory table (ARGS="--slow-layers" reference layers, "--run RUN_DIR" trained model)
	$(PYTHON) -m rdsweep.bench $(ARGS)

test: $(STAMP)
	$(PYTHON) -m pytest -m "not slow" -q

test-all: $(STAMP)
	$(PYTHON) -m pytest -q

clean:
	rm -rf .make .pytest_cache .hypothesis
