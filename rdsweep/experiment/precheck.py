"""Before Hydra runs anything: every job's config composed and validated, its run directory checked (absent,
empty, or an rdsweep run directory whose files are what a run writes), its data present (downloaded if
missing). A bad value, a foreign directory or missing data is refused in one line, before any directory is made.
Also the training entry's ``--help``.
"""
from __future__ import annotations

import itertools
from pathlib import Path

from omegaconf import OmegaConf, open_dict

from rdsweep import config, data
from rdsweep.errors import RdsweepError
from rdsweep.experiment.rundir import check_run_dir, check_sweep_dir
from rdsweep.experiment.run import model_spec


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
    every = parser.parse_overrides(args.overrides)
    hydra_settings = [o.input_line for o in every if o.key_or_group.startswith("hydra")]  # where the runs go, ...
    parsed = [o for o in every if not o.key_or_group.startswith("hydra")]
    if not args.multirun and any(o.is_sweep_override() for o in parsed):
        return  # Hydra refuses it with its own message
    with initialize_config_module("rdsweep.conf", version_base="1.3"):
        if args.multirun:  # an experiment's own sweep (hydra.sweeper.params), under the command line's values
            base = compose("config", overrides=[*(o.input_line for o in parsed if not o.is_sweep_override()),
                                                *hydra_settings], return_hydra_config=True)
            given = {o.key_or_group for o in parsed}
            params = OmegaConf.select(base, "hydra.sweeper.params") or {}
            parsed = parser.parse_overrides([f"{k}={v}" for k, v in params.items() if k not in given]) + parsed
        choices = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
                   else [o.input_line] for o in parsed]
        jobs, run_dirs, sweep_dirs = [], [], set()
        for job in itertools.product(*choices):
            cfg = compose("config", overrides=[*job, *hydra_settings], return_hydra_config=True)
            run_dirs.append(_run_dir(cfg, args.multirun))
            if args.multirun:
                sweep_dirs.add(str(OmegaConf.select(cfg, "hydra.sweep.dir", default="",
                                                    throw_on_resolution_failure=False)))
            with open_dict(cfg):
                del cfg["hydra"]
            jobs.append(config.validate(cfg))
    for sweep_dir in sorted(d for d in sweep_dirs if d.strip()):
        check_sweep_dir(Path(sweep_dir))
    for run_dir, job in zip(run_dirs, jobs):
        if run_dir is not None and job.task == "train":
            check_run_dir(run_dir)
    training = [j for j in jobs if j.task == "train"]
    for data_cfg in {repr(j.data): j.data for j in training}.values():
        data.ensure_available(data_cfg, jobs[0].progress)  # missing data: one line now, not once per job
    for job in {repr((j.model, j.prior, j.latent_dims, j.data, j.codec)): j for j in training}.values():
        shape = data.image_shape(job.data)
        if shape is not None:  # the model's size and fixed tables, bounded before any training
            model_spec(job, shape)


def _run_dir(cfg, multirun: bool) -> Path | None:
    """The run directory Hydra will make for a composed job (None where it cannot be known yet, e.g. a subdir
    naming the job's number); an empty one is refused (it would be the working directory)."""
    try:
        hc = cfg.hydra
        path = f"{hc.sweep.dir}/{hc.sweep.subdir}" if multirun else str(hc.run.dir)
    except Exception:  # noqa: BLE001 - interpolations of what exists only when Hydra runs the job
        return None
    if not path.strip() or (multirun and not str(hc.sweep.dir).strip()):
        raise RdsweepError(f"hydra.{'sweep' if multirun else 'run'}.dir is empty: give a directory (it would be "
                           "the working directory)")
    return Path(path)


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
            names = {p.name[:-5] for p in group.iterdir() if p.name.endswith(".yaml")}
            groups.setdefault(group.name, set()).update(names)
    with initialize_config_module("rdsweep.conf", version_base="1.3"):
        cfg = compose("config")
    print(HELP + "\n== Config groups (group=option; +experiment=NAME) ==\n" +
          "".join(f"{g}: {', '.join(sorted(o))}\n" for g, o in sorted(groups.items()) if o) +
          "\n== Config (the defaults; override any key: key=value) ==\n" + OmegaConf.to_yaml(cfg))
