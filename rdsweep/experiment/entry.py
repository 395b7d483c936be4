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
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rdsweep import config, data, runtime
from rdsweep.errors import RdsweepError
from rdsweep.files import FAILED, ForeignRunError, atomic_write_text

log = logging.getLogger("rdsweep")


@hydra.main(version_base="1.3", config_path="pkg://rdsweep.conf", config_name="config")
def _task(cfg) -> float:
    from rdsweep.experiment.run import run  # after runtime.configure(): JAX starts here

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    runtime.configure()  # again: a launcher's worker process (joblib) has not run main()
    if cfg.pin_core:
        runtime.claim_core()  # before JAX starts: its thread pools then fit the one core
    try:
        if cfg.task == "baselines":
            return run_baselines(cfg, run_dir)
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


def run_baselines(dictconfig, out: Path) -> float:
    """``task=baselines`` (``+experiment=baselines``): the classical baselines' records into the run directory."""
    from rdsweep.analysis.baselines import run_baselines as baselines

    cfg = config.validate(dictconfig)
    baselines(out, cfg.baselines.methods, cfg.data, cfg.baselines.steps, cfg.progress)
    return 0.0


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
    parser = OverridesParser.create()
    parsed = [o for o in parser.parse_overrides(args.overrides) if not o.key_or_group.startswith("hydra")]
    if not args.multirun and any(o.is_sweep_override() for o in parsed):
        return  # Hydra refuses it with its own message
    with initialize_config_module("rdsweep.conf", version_base="1.3"):
        if args.multirun:  # an experiment's own sweep (hydra.sweeper.params), under the command line's values
            base = compose("config", overrides=[o.input_line for o in parsed if not o.is_sweep_override()],
                           return_hydra_config=True)
            given = {o.key_or_group for o in parsed}
            params = OmegaConf.select(base, "hydra.sweeper.params") or {}
            parsed = parser.parse_overrides([f"{k}={v}" for k, v in params.items() if k not in given]) + parsed
        choices = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
                   else [o.input_line] for o in parsed]
        jobs = [config.validate(compose("config", overrides=list(job))) for job in itertools.product(*choices)]
    for data_cfg in {repr(j.data): j.data for j in jobs if j.task == "train"}.values():
        data.ensure_available(data_cfg, jobs[0].progress)  # missing data: one line now, not once per job


HELP = """usage: python -m rdsweep [-m] [KEY=VALUE ...]      (also: rdsweep-train)

Train one lambda and code the test set for real (one run), or with -m a sweep over comma-separated values
(lmbda=300,500 seed=0,1,2). Examples:
  python -m rdsweep lmbda=2000 prior=logistic
  python -m rdsweep -m +experiment=table1 seed=0,1,2      (experiments: conf/experiment/ of the checkout)
Hydra's own flags: --cfg job (the composed config), --hydra-help. Tools: rdsweep --help.
"""


def print_help() -> None:
    """The config groups (a group's options are its yaml files: packaged, then ./conf) and the default config."""
    from importlib import resources

    from hydra import compose, initialize_config_module

    groups: dict = {}
    for top in (resources.files("rdsweep.conf"), *[Path("conf")] * Path("conf").is_dir()):
        for group in (p for p in top.iterdir() if p.is_dir() and p.name not in ("hydra", "__pycache__")):
            groups.setdefault(group.name, set()).update(p.name[:-5] for p in group.iterdir() if p.name.endswith(".yaml"))
    with initialize_config_module("rdsweep.conf", version_base="1.3"):
        cfg = compose("config")
    print(HELP + "\n== Config groups (group=option; +experiment=NAME) ==\n" +
          "".join(f"{g}: {', '.join(sorted(o))}\n" for g, o in sorted(groups.items()) if o) +
          "\n== Config (the defaults; override any key: key=value) ==\n" + OmegaConf.to_yaml(cfg))


def main() -> None:
    runtime.configure()
    warnings.filterwarnings("ignore", message=r"provider=hydra\.searchpath in main, path=conf is not available")
    config.register()
    user_wants_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing; we print one line
    try:
        if any(a in ("--help", "-h") for a in sys.argv[1:]):
            return print_help()
        precheck(sys.argv[1:])
        _task()
    except BrokenPipeError:  # `python -m rdsweep --cfg job | head`: quiet, as a pipe's writer
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
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
