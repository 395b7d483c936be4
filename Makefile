# rdsweep: `make sweep` runs the main job, `make test` the tests; both install what is missing first.
# The study's settings live in conf/experiment/*.yaml (Hydra experiment configs); the targets only call them.
PYTHON ?= python3
# one install stamp per interpreter and extras (a new virtualenv installs again), redone when pyproject.toml changes
PYKEY := $(shell $(PYTHON) -c 'import sys, hashlib; print(hashlib.sha1(sys.prefix.encode()).hexdigest()[:10])')
RDSWEEP := $(PYTHON) -m rdsweep.cli
TRAIN := $(PYTHON) -m rdsweep
# Optional overrides of an experiment's own settings (empty: the experiment's), e.g. make sweep SEEDS=0,1,2
LAMBDAS ?=
SEEDS ?=
EPOCHS ?=
MODEL ?=
PRIOR ?=
TARGET_BITS ?=# e.g. 4,8,16,32,64: a sweep placed at these rates (each lambda searched for first)
OVERRIDES = $(if $(LAMBDAS),lmbda=$(LAMBDAS)) $(if $(SEEDS),seed=$(SEEDS)) $(if $(EPOCHS),train.epochs=$(EPOCHS)) \
  $(if $(MODEL),model=$(MODEL)) $(if $(PRIOR),prior=$(PRIOR)) $(if $(strip $(TARGET_BITS)),target_bits=$(TARGET_BITS))
LMBDA ?= 500
TARGETS ?= outputs/targets
SWEEPS ?= $(if $(strip $(TARGET_BITS)),$(TARGETS),outputs/sweeps)
RUNS ?= outputs/runs
BASELINES ?= outputs/baselines
HIGHRATE ?= outputs/highrate
BEST ?= outputs/best
RUN ?= $(SWEEPS)/mnist-$(or $(MODEL),seed)-$(or $(PRIOR),deep_factorized)-mae-d50-e$(or $(EPOCHS),5)-s0/lmbda=2000
TEST_JOBS ?= 2
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
# the run directories the table is made of: those that exist when the recipe runs (a sweep makes its own first)
# after a sweep (exit status in $$status): the table, unless the sweep failed before any run finished
AFTER = status=$$?; [ $$status -ne 0 ] && [ -z "$$(find $(1) -name metrics.json 2>/dev/null | head -n 1)" ] && exit $$status;
TABLE = $(RDSWEEP) aggregate $$(for d in $(sort $(SWEEPS) outputs/sweeps $(TARGETS)) $(RUNS) $(BEST) $(HIGHRATE) $(BASELINES); \
  do [ -d $$d ] && echo $$d; done) --out $(SWEEPS)

.PHONY: install run sweep table baselines figures best-sweep highrate-sweep latent-sweep bench bench-peer test test-all test-cluster clean

install: $(STAMP)
$(STAMP): pyproject.toml $(if $(HERE),,FORCE)
	@echo "installing rdsweep and its dependencies into $$($(PYTHON) -c 'import sys; print(sys.prefix)') (pip install -e '.[$(EXTRAS)]'; a few minutes the first time)"
	$(PYTHON) -m pip install -q -e '.[$(EXTRAS)]'
	@mkdir -p $(dir $@) && touch $@

run: $(STAMP)            ## one lambda: make run LMBDA=2000 ARGS="prior=logistic"
	$(TRAIN) lmbda=$(LMBDA) $(if $(MODEL),model=$(MODEL)) $(if $(PRIOR),prior=$(PRIOR)) $(ARGS)

sweep: $(STAMP)          ## the main job: conf/experiment/table1.yaml (x SEEDS; TARGET_BITS=...: placed), then the table
	$(TRAIN) -m +experiment=table1 hydra.sweep.dir=$(SWEEPS) $(OVERRIDES) $(HYDRA_LAUNCHER) $(ARGS); \
	$(call AFTER,$(SWEEPS)) mkdir -p $(SWEEPS) && $(TABLE) && exit $$status

table: $(STAMP)          ## re-aggregate the runs in SWEEPS, RUNS, BEST, HIGHRATE, BASELINES -> rd.csv, table1.md, rd_curve, bd.csv
	@mkdir -p $(SWEEPS)
	$(TABLE)

baselines: $(STAMP)      ## conf/experiment/baselines.yaml: DCT, 8x8 DCT, PCA, PNG/JPEG/WebP/... records, then the table
	$(TRAIN) +experiment=baselines hydra.run.dir=$(BASELINES) $(ARGS)
	@mkdir -p $(SWEEPS)
	$(TABLE)

figures: $(STAMP)        ## the report's figures from one trained run (default: the sweep's lambda=2000 run)
	$(RDSWEEP) figures $(RUN)

best-sweep: $(STAMP)     ## conf/experiment/best.yaml (hyperprior, mixed, cosine from 2e-3, the encoder's search; Table 1's lambdas) -> BEST, then the table
	$(TRAIN) -m +experiment=best hydra.sweep.dir=$(BEST) $(OVERRIDES) $(HYDRA_LAUNCHER) $(ARGS); \
	$(call AFTER,$(BEST)) mkdir -p $(SWEEPS) && $(TABLE) && exit $$status

highrate-sweep: $(STAMP) ## conf/experiment/highrate.yaml (fully convolutional hyperprior, MSE, 40 epochs) -> HIGHRATE, then the table
	$(TRAIN) -m +experiment=highrate hydra.sweep.dir=$(HIGHRATE) $(OVERRIDES) $(HYDRA_LAUNCHER) $(ARGS); \
	$(call AFTER,$(HIGHRATE)) mkdir -p $(SWEEPS) && $(TABLE) && exit $$status

latent-sweep: $(STAMP)   ## conf/experiment/latent.yaml (latent 5 ... 100 at lambda 500, 2000) -> outputs/latent
	$(TRAIN) -m +experiment=latent $(OVERRIDES) $(HYDRA_LAUNCHER) $(ARGS); \
	$(call AFTER,outputs/latent) $(RDSWEEP) aggregate outputs/latent && exit $$status

bench: $(STAMP)          ## speed/overhead/memory table (ARGS="--slow-layers", "--run RUN_DIR", "--profile")
	$(RDSWEEP) bench $(ARGS)

bench-peer: $(STAMP)     ## ours vs the TensorFlow Compression reference, side by side (ARGS="--repeats 3 --sweep")
	$(PYTHON) benchmarks/compare.py $(ARGS)

test: $(STAMP)           ## the test suite without the slow tests (CI: .ci/run), TEST_JOBS processes side by side
	$(PYTHON) -m pytest -m "not slow" -q -n $(TEST_JOBS)

test-all: $(STAMP)       ## every test, the slow ones too (10k-digit round trips, the wheel in a fresh venv)
	$(PYTHON) -m pytest -q -n $(TEST_JOBS)

test-cluster: $(STAMP)   ## the SLURM launcher on a local one-node SLURM cluster (needs root and apt; not in make test)
	$(MAKE) --no-print-directory install LAUNCHER=slurm
	PYTHON=$(PYTHON) cluster/test-cluster.sh

FORCE:

clean:                   ## install stamps, test caches, and failed runs with nothing to resume (other runs stay)
	rm -rf .make .pytest_cache .hypothesis
	@for f in $$(find outputs -name failed.txt 2>/dev/null); do d=$$(dirname "$$f"); \
	  [ -e "$$d/checkpoint.msgpack" ] || [ -e "$$d/metrics.json" ] || { echo "removing the failed run $$d"; rm -r "$$d"; }; done
