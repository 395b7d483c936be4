"""The training entry point: ``python -m rdsweep lmbda=500`` or ``rdsweep-train lmbda=500`` (one run), with
``-m`` a Hydra multirun (sweep). Config: rdsweep/conf (packaged), typed by rdsweep/config.py.

Every failure is one line ``rdsweep: error: ...`` and a non-zero exit: bad overrides (Hydra's own message,
joined onto one line), bad values, bad data, a diverged training. In a sweep, a failed job leaves failed.txt
in its run directory, the other jobs go on, and the sweep exits non-zero at the end.
"""
from __future__ import annotations

import itertools
import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf.errors import OmegaConfBaseException

from rdsweep import config, runtime
from rdsweep.errors import RdsweepError
from rdsweep.files import FAILED, ForeignRunError, atomic_write_text

log = logging.getLogger("rdsweep")


@hydra.main(version_base="1.3", config_path="pkg://rdsweep.conf", config_name="config")
def _task(cfg) -> float:
    from rdsweep.experiment.run import run  # after runtime.configure(): JAX starts here

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    if cfg.pin_core:
        runtime.claim_core()  # before JAX starts: its thread pools then fit the one core
    try:
        metrics = run(cfg, run_dir)
    except RdsweepError as e:
        if run_dir.is_dir() and not isinstance(e, ForeignRunError):  # another run's directory stays untouched
            atomic_write_text(run_dir / FAILED, f"{e}\n")  # the aggregation lists it
        if hc.mode != RunMode.MULTIRUN:
            print(f"rdsweep: error: {e}", file=sys.stderr)
            sys.exit(1)  # not an Exception: Hydra lets it through without its own report
        log.error("rdsweep: error: %s", e)  # a sweep goes on with its other jobs
        raise
    (run_dir / FAILED).unlink(missing_ok=True)
    return metrics["rate_info_bits"]


def precheck(argv: list[str]) -> None:
    """Compose and validate every job's config (each combination of swept values) before Hydra runs
    anything: a bad value is refused before any directory is made. Commands with their own config source
    (--config-dir, ...) or Hydra's information flags are left to Hydra."""
    from hydra import compose, initialize_config_module
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args, _ = get_args_parser().parse_known_args(argv)
    if args.help or args.hydra_help or args.cfg or args.info or args.shell_completion or args.config_dir \
            or args.config_path or args.config_name or args.experimental_rerun:
        return
    parsed = [o for o in OverridesParser.create().parse_overrides(args.overrides)
              if not o.key_or_group.startswith("hydra")]
    if not args.multirun and any(o.is_sweep_override() for o in parsed):
        return  # Hydra refuses it with its own message
    choices = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
               else [o.input_line] for o in parsed]
    with initialize_config_module("rdsweep.conf", version_base="1.3"):
        for job in itertools.product(*choices):
            config.validate(compose("config", overrides=list(job)))


def main() -> None:
    runtime.configure()
    config.register()
    user_wants_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing; we print one line
    try:
        precheck(sys.argv[1:])
        _task()
    except KeyboardInterrupt:
        print("rdsweep: interrupted", file=sys.stderr)
        sys.exit(130)
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
