#!/bin/bash
# End-to-end test of rdsweep's SLURM launcher (rdsweep/conf/hydra/launcher/slurm.yaml) on a real cluster:
# the one-node cluster of cluster/slurm-local.sh on this machine (needs root and apt; `make test-cluster`).
#
#   1. a 2-lambda sweep through the shipped launcher config (only the partition overridden): both runs
#      decode every digit exactly, the aggregation finds 2 rows, sacct shows 2 jobs `rdsweep` COMPLETED;
#   2. a sweep with one failing job (10 training digits: fewer than one batch): the submitter exits non-zero
#      and reports it, the good run's record is there, the failed run left failed.txt, its job's .err log
#      holds the error, sacct shows that array task FAILED and the other COMPLETED.
#
# Environment: PYTHON (default python3; its rdsweep must have the `launchers` extra), RDSWEEP_DATA_DIR
# (default: rdsweep's own rule, ~/.cache/rdsweep/mnist, downloaded if missing), KEEP=1 keeps the temporary directory after a pass
# (it is always kept after a failure). Prints PASS/FAIL per check; exits 1 if any check failed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
PARTITION=local   # cluster/slurm-local.sh's partition
PYTHON=$(command -v "$PYTHON")                       # absolute: the jobs run this interpreter again
# the data by rdsweep's rule (downloaded if missing), as an absolute path: the jobs must find it from any directory
RDSWEEP_DATA_DIR=$("$PYTHON" -c 'from rdsweep import data; from rdsweep.config import DataConfig as D
c = D(); data.ensure_available(c); print(data.data_dir(c).resolve())')
export RDSWEEP_DATA_DIR

[ "$(id -u)" = 0 ] || { echo "test-cluster: needs root (cluster/slurm-local.sh installs packages, starts daemons)" >&2; exit 2; }
"$PYTHON" -c 'import hydra_plugins.hydra_submitit_launcher, hydra_plugins.rdsweep_launcher as m; m.StrictSlurmLauncher' \
  || { echo "test-cluster: $PYTHON lacks the launchers extra: pip install -e '$REPO[launchers]'" >&2; exit 2; }

"$REPO/cluster/slurm-local.sh" start

TMP=$(mktemp -d /tmp/rdsweep-test-cluster.XXXXXX)   # same path on the (only) node
cd "$TMP"                                            # the submitter's and the jobs' working directory
passed=0 failed=0
check() {  # check NAME CMD...: run CMD, print PASS/FAIL NAME
  local name=$1; shift
  if "$@"; then echo "PASS  $name"; passed=$((passed + 1)); else echo "FAIL  $name"; failed=$((failed + 1)); fi
}
job_ids() {  # job_ids SWEEP_DIR: the SLURM array job ids submitit used (.submitit/<jobid>_<i>/)
  [ -d "$1/.submitit" ] || return 0
  find "$1/.submitit" -mindepth 1 -maxdepth 1 -type d -name '*_*' -printf '%f\n' | sed 's/_.*//' | sort -u
}
on_signal() {  # interrupted: cancel what we submitted
  local d id
  for d in "$TMP"/sweep-*; do for id in $(job_ids "$d"); do scancel "$id" 2>/dev/null || true; done; done
  echo "test-cluster: interrupted; jobs cancelled; files kept in $TMP" >&2
  exit 130
}
trap on_signal INT TERM

sweep() {  # sweep NAME OVERRIDES...: the submitter, output tee'd to NAME.log; sets rc
  local name=$1; shift
  echo "+ python -m rdsweep -m $* hydra/launcher=slurm hydra.launcher.partition=$PARTITION hydra.sweep.dir=$TMP/sweep-$name"
  set +e
  "$PYTHON" -m rdsweep -m "$@" hydra/launcher=slurm hydra.launcher.partition=$PARTITION \
    hydra.sweep.dir="$TMP/sweep-$name" 2>&1 | tee "$TMP/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  echo "(submitter exit status $rc)"
}
run_dir() {  # run_dir SWEEP_DIR REGEX: the run directory <sweep dir>/<name>/lmbda=<lmbda> whose path matches
  find "$1" -mindepth 2 -maxdepth 2 -type d -regextype posix-extended -regex "$2" -not -path '*/.submitit/*' | head -1
}
exact_record() {  # exact_record RUN_DIR: metrics.json with 0 decode mismatches (per digit and in the container)
  [ -n "$1" ] && "$PYTHON" - "$1/metrics.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"    {sys.argv[1]}: rate {m['rate_info_bits']:.2f} bits/digit, PSNR {m['psnr_db']:.2f} dB, "
      f"decode_mismatches {m['decode_mismatches']}, container_decode_mismatches {m['container_decode_mismatches']}")
sys.exit(not (m["decode_mismatches"] == 0 and m["container_decode_mismatches"] == 0))
EOF
}
rows() {  # rows CSV N: CSV has N data rows
  [ -f "$1" ] && [ "$("$PYTHON" -c 'import sys, pandas; print(len(pandas.read_csv(sys.argv[1])))' "$1")" = "$2" ]
}
SACCT=""
sacct_is() {  # sacct_is SWEEP_DIR "0:STATE 1:STATE ...": array tasks named rdsweep in these states (polls 30 s)
  local ids id want=$2 got
  ids=$(job_ids "$1")
  [ "$(echo "$ids" | grep -c .)" = 1 ] || { echo "    expected one array job under $1/.submitit, found: $ids"; return 1; }
  id=$ids
  for _ in $(seq 30); do   # accounting lags behind the job's end
    SACCT=$(sacct -n -P -X -j "$id" -o JobID,JobName,Partition,AllocCPUS,State,ExitCode,Elapsed)
    got=$(echo "$SACCT" | awk -F'|' -v id="$id" '$2 == "rdsweep" {sub(id "_", "", $1); print $1 ":" $5}' | sort | xargs)
    [ "$got" = "$want" ] && break
    sleep 1
  done
  echo "$SACCT" | sed 's/^/    sacct: /'
  [ "$got" = "$want" ] || { echo "    expected $want, got ${got:-nothing}"; return 1; }
}

QUICK=(data.test_limit=500 train.epochs=1)

echo "== 1. a 2-lambda sweep through the shipped launcher config"
sweep ok lmbda=300,500 data.train_limit=1024 "${QUICK[@]}"
OK=$TMP/sweep-ok
check "sweep exits 0" test "$rc" = 0
check "lmbda=300 run: metrics.json, 0 decode mismatches" exact_record "$(run_dir "$OK" '.*/lmbda=300')"
check "lmbda=500 run: metrics.json, 0 decode mismatches" exact_record "$(run_dir "$OK" '.*/lmbda=500')"
set +e; "$PYTHON" -m rdsweep.cli aggregate "$OK" 2>&1 | sed 's/^/    /'; set -e
check "aggregate: rd.csv has 2 rows" rows "$OK/rd.csv" 2
check "sacct: 2 array tasks named rdsweep, COMPLETED" sacct_is "$OK" "0:COMPLETED 1:COMPLETED"

echo "== 2. a sweep with a failing job (data.train_limit=10: fewer than one batch)"
sweep fail lmbda=500 data.train_limit=256,10 "${QUICK[@]}"
FAIL=$TMP/sweep-fail
GOOD=$(run_dir "$FAIL" '.*-n256(-[^/]*)?/lmbda=500') BAD=$(run_dir "$FAIL" '.*-n10(-[^/]*)?/lmbda=500')
check "sweep exits non-zero" test "$rc" != 0
check "submitter reports the failure" grep -q 'rdsweep: error: .*fewer than one batch' "$TMP/fail.log"
check "good run (256 digits): metrics.json, 0 decode mismatches" exact_record "$GOOD"
check "failed run (10 digits): failed.txt, no metrics.json" \
  bash -c '[ -n "$1" ] && [ -f "$1/failed.txt" ] && [ ! -e "$1/metrics.json" ] && sed "s/^/    failed.txt: /" "$1/failed.txt"' _ "$BAD"
check "failed job's .err log holds the error" \
  bash -c 'set -o pipefail; grep -h "fewer than one batch" "$1"/.submitit/*_1/*_1_0_log.err | tail -1 | sed "s/^/    .err: /"' _ "$FAIL"
check "sacct: task 1 FAILED, task 0 COMPLETED" sacct_is "$FAIL" "0:COMPLETED 1:FAILED"

echo "== $passed passed, $failed failed"
if [ "$failed" = 0 ]; then
  [ "${KEEP:-0}" = 1 ] && echo "files kept in $TMP" || rm -rf "$TMP"
  echo "test-cluster: PASS"
else
  echo "test-cluster: FAIL (files kept in $TMP)"
  exit 1
fi
