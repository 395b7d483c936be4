"""The training entry point: ``python -m rdsweep lmbda=500`` or ``rdsweep-train lmbda=500`` (one run), with
``-m`` a Hydra multirun (sweep). Config: rdsweep/conf (packaged), typed by rdsweep/config.py.

Every failure is one line ``rdsweep: error: ...`` and a non-zero exit: bad overrides (Hydra's own message,
joined onto one line), bad values, bad data, a diverged training. In a sweep, a failed job leaves failed.txt
in its run directory, the other jobs go on, and the sweep exits non-zero at the end. SIGINT and SIGTERM (a
cluster's) at any moment end the run in one line ``rdsweep: interrupted`` and exit 130; a run interrupted
while training leaves failed.txt beside its last checkpoint, and re-running it resumes from there.

Nothing heavy is imported at module level: the signal handlers are in place before JAX and Hydra load.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from rdsweep.errors import RdsweepError, deferred_interrupts, interrupts

log = logging.getLogger("rdsweep")


def _task(cfg) -> float:
    """One Hydra job: train and evaluate one setting (or task=baselines) in Hydra's run directory."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from rdsweep import runtime
    from rdsweep.files import FAILED, ForeignRunError

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    runtime.configure()  # again: a launcher's worker process (joblib) has not run main()
    if cfg.pin_core:
        runtime.claim_core()  # before JAX starts: its thread pools then fit the one core
    try:
        with deferred_interrupts():
            from rdsweep.experiment.run import run  # JAX starts here
        if cfg.task == "baselines":
            return run_baselines(cfg, run_dir)
        metrics = run(cfg, run_dir)
    except RdsweepError as e:
        text = " ".join(str(e).split())  # one line, whatever a path in it holds
        if run_dir.is_dir() and not isinstance(e, ForeignRunError):  # another run's directory stays untouched
            _record_failure(run_dir, text)  # the aggregation lists it
        if hc.mode != RunMode.MULTIRUN:
            print(f"rdsweep: error: {text}", file=sys.stderr)
            sys.exit(1)  # not an Exception: Hydra lets it through without its own report
        log.error("rdsweep: error: %s", text)  # a sweep goes on with its other jobs
        raise
    except KeyboardInterrupt as e:
        if run_dir.is_dir() and (run_dir / "config.yaml").is_file():  # this run had started writing here
            _record_failure(run_dir, f"interrupted ({e}); re-run the same command to resume")
        raise
    (run_dir / FAILED).unlink(missing_ok=True)
    return metrics.get("rate_info_bits", 0.0)  # a sweeper's objective (a variable-rate run: none)


def _record_failure(run_dir: Path, text: str) -> None:
    """failed.txt: the failure's record, where it can be written (a full disk that made the run fail refuses it
    too; the error then stands as it was)."""
    from rdsweep.files import FAILED, atomic_write_text

    try:
        atomic_write_text(run_dir / FAILED, f"{text}\n", interruptible=False)
    except (RdsweepError, OSError):
        pass


def run_baselines(dictconfig, out: Path) -> float:
    """``task=baselines`` (``+experiment=baselines``): the classical baselines' records into the run directory."""
    from rdsweep import config
    from rdsweep.analysis.baselines import run_baselines as baselines

    cfg = config.validate(dictconfig)
    baselines(out, cfg.baselines.methods, cfg.data, cfg.baselines.steps, cfg.progress)
    return 0.0


def main() -> None:
    with interrupts(final=True):  # SIGINT/SIGTERM: KeyboardInterrupt, deferred while modules load
        with deferred_interrupts():
            import warnings

            import hydra
            from hydra.errors import HydraException
            from omegaconf.errors import OmegaConfBaseException

            from rdsweep import config, runtime
            from rdsweep.experiment.precheck import precheck, print_help
            from rdsweep.experiment.targets import place

        runtime.configure()
        warnings.filterwarnings("ignore", message=r"provider=hydra\.searchpath in main, path=conf is not available")
        logging.raiseExceptions = False  # a full disk under Hydra's log file: no "--- Logging error ---" tracebacks
        for stream in (sys.stdout, sys.stderr):  # paths that are not UTF-8 are printed, not a traceback
            stream.reconfigure(errors="backslashreplace")
        config.register()
        user_wants_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"
        task = hydra.main(version_base="1.3", config_path="pkg://rdsweep.conf", config_name="config")(_task)
        try:
            if any(a in ("--help", "-h") for a in sys.argv[1:]):
                return print_help()
            placed = place(sys.argv[1:])  # target_bits: the search, then the placed sweep, as child commands (the
            if placed is not None:  # user's environment, before the next line)
                sys.exit(placed)
            os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing; we print one line
            precheck(sys.argv[1:])
            task()
        except BrokenPipeError:  # `python -m rdsweep --cfg job | head`: quiet, as a pipe's writer
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except (RdsweepError, HydraException, OmegaConfBaseException) as e:
            if user_wants_traceback:
                raise
            print(f"rdsweep: error: {config.one_line(e)}", file=sys.stderr)
            sys.exit(1)
        except OSError as e:  # Hydra making a run directory where a file or device is, ...
            if user_wants_traceback:
                raise
            print(f"rdsweep: error: {e.filename + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
            sys.exit(1)
