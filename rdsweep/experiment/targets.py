"""Sweeps that place themselves: ``target_bits=4,8,16,32,64`` instead of guessed lambdas.

Before the sweep runs, ``place`` finds one lambda per target rate: rounds of search runs (the sweep's own
settings, its first seed, its launcher) at guessed lambdas, then at the lambdas a fit of the measured points
gives. The fit is piecewise linear in log rate against log lambda through every measured point (the rate grows
with lambda; beyond the points, the end segments' slope). Short proxy runs were measured and dropped: after 1 or
2 of 5 epochs the rate at a lambda is 10-20 % (2 epochs) to 100x (1 epoch on 12,800 digits) off the full run's,
so every search run is a full run. A target is placed when a run lands within ``tolerance`` of it, else at the
fit after the last round.

The search runs go to ``<sweep dir>-search/round<k>/`` (their records say ``search: true``; the aggregation
leaves them out), with ``search.json`` (every point, the lambdas found, the search's cost in run seconds) and one
config per target (``conf/point/t<bits>.yaml``: ``target_bits`` and ``lmbda``). The sweep itself then runs over
``+point=...`` x the other swept values (seeds, ...): each record keeps ``target_bits`` next to ``lmbda``.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rdsweep.errors import RdsweepError

SLOPE = 0.9  # d log rate / d log lambda of the seed model's Table-1 curve (the first guesses, one-point fits)
ANCHOR = (1000.0, 24.0)  # (lambda, bits/digit) of that curve: the first guesses
ROUNDS = 2
TOLERANCE = 0.05


def guess(target: float) -> float:
    return ANCHOR[0] * (target / ANCHOR[1]) ** (1 / SLOPE)


MIN_SLOPE, MAX_STEP = 0.2, 16.0  # a flatter segment is taken as MIN_SLOPE; at most x16 beyond the points


def fit(points: list[tuple[float, float]], target: float) -> float:
    """The lambda at which the rate would be ``target``, from measured (lambda, rate) points: piecewise linear
    in log-log through the points sorted by lambda (a rate that did not grow is dropped), the end segments'
    slope beyond them, SLOPE with one point; never more than MAX_STEP beyond the measured lambdas."""
    lm = _fit(points, target)
    known = [p[0] for p in points if p[0] > 0] or [lm]
    return float(np.clip(lm, min(known) / MAX_STEP, max(known) * MAX_STEP))


def _fit(points: list[tuple[float, float]], target: float) -> float:
    pts = sorted((lm, r) for lm, r in points if r > 0 and lm > 0)
    mono = [pts[0]] if pts else []
    for lm, r in pts[1:]:
        if r > mono[-1][1] and lm > mono[-1][0]:
            mono.append((lm, r))
    if not mono:
        return guess(target)
    x, y = np.log([p[0] for p in mono]), np.log([p[1] for p in mono])
    t = math.log(target)
    if len(mono) == 1:
        return float(math.exp(x[0] + (t - y[0]) / SLOPE))
    i = int(np.clip(np.searchsorted(y, t) - 1, 0, len(mono) - 2))  # the segment holding t (or the end one)
    slope = max((y[i + 1] - y[i]) / (x[i + 1] - x[i]), MIN_SLOPE)
    return float(math.exp(x[i] + (t - y[i]) / slope))


def _split(argv: list[str]):
    """(targets, first seed, the other arguments) of a command line that sweeps target_bits, else None."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args, _ = get_args_parser().parse_known_args(argv)
    parsed = OverridesParser.create().parse_overrides(args.overrides)
    by_key = {o.key_or_group: o for o in parsed}
    if "target_bits" not in by_key:
        return None
    if not args.multirun:
        raise RdsweepError("target_bits places a sweep's points: run it with -m (e.g. python -m rdsweep -m "
                           "target_bits=4,8,16 seed=0,1,2)")
    if "lmbda" in by_key:
        raise RdsweepError("give target_bits or lmbda, not both: the search finds each target's lambda")
    values = list(by_key["target_bits"].sweep_string_iterator()) if by_key["target_bits"].is_sweep_override() \
        else [by_key["target_bits"].input_line.split("=", 1)[1]]
    try:
        targets = sorted({float(v) for v in values})
    except ValueError:
        raise RdsweepError(f"target_bits must be numbers (bits/digit), not {','.join(values)}") from None
    if not targets or not all(0.1 <= t <= 1e6 for t in targets):
        raise RdsweepError(f"target_bits must be in [0.1, 1e6] bits/digit, not {','.join(values)}")
    seeds = list(by_key["seed"].sweep_string_iterator()) if "seed" in by_key and by_key["seed"].is_sweep_override() \
        else [by_key["seed"].input_line.split("=", 1)[1]] if "seed" in by_key else None
    rest = [a for a in argv if a not in ("-m", "--multirun") and not a.startswith(("target_bits=", "seed="))]
    return targets, seeds, rest


def _composed(rest: list[str]) -> tuple[Path, dict]:
    """(the sweep directory, the experiment's own sweep parameters) of the command line without its targets."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    overrides = [a for a in rest if not a.startswith("-")]
    with initialize_config_module("rdsweep.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    return Path(str(cfg.hydra.sweep.dir)), dict(OmegaConf.select(cfg, "hydra.sweeper.params") or {})


def _measured(round_dir: Path) -> list[dict]:
    out = []
    for path in sorted(round_dir.rglob("metrics.json")):
        m = json.loads(path.read_text())
        if isinstance(m.get("rate_info_bits"), (int, float)) and not m.get("decode_mismatches"):
            out.append({"lmbda": float(m["lmbda"]), "rate_info_bits": float(m["rate_info_bits"]),
                        "psnr_db": m.get("psnr_db"), "wall_s": m.get("wall_s", 0.0), "run": str(path.parent)})
    return out


def place(argv: list[str], rounds: int = ROUNDS, tolerance: float = TOLERANCE) -> list[str] | None:
    """For a command line sweeping ``target_bits``: run the search and return the command line of the sweep
    over the placed points; None for any other command line."""
    split = _split(argv)
    if split is None:
        return None
    targets, given_seeds, rest = split
    sweep_dir, params = _composed(rest)
    seeds = given_seeds or str(params.get("seed", "0")).split(",")
    seed = seeds[0]
    search = Path(str(sweep_dir) + "-search")
    points, lambdas, open_targets = [], {}, list(targets)
    for r in range(1, rounds + 1):
        tries = {t: (guess(t) if not points else fit([(p["lmbda"], p["rate_info_bits"]) for p in points], t))
                 for t in open_targets}
        todo = sorted({round(lm, 6) for lm in tries.values()})
        print(f"rdsweep: placing {len(open_targets)} target rate(s), round {r} of {rounds}: seed {seed} at lambda "
              f"{', '.join(f'{lm:g}' for lm in todo)}", file=sys.stderr)
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "rdsweep", "-m", *rest, f"seed={seed}", "search=true",
               f"lmbda={','.join(f'{lm:g}' for lm in todo)}", f"hydra.sweep.dir={search / f'round{r}'}"]
        done = subprocess.run(cmd)
        got = _measured(search / f"round{r}")
        if not got:
            raise RdsweepError(f"the lambda search's runs failed (exit {done.returncode}; see {search / f'round{r}'})")
        points += [{**p, "round": r} for p in got if p not in points]
        measured = ", ".join(f"{p['lmbda']:g} -> {p['rate_info_bits']:.2f}" for p in got)
        print(f"rdsweep: round {r}: {measured} bits/digit ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        for t in list(open_targets):
            hit = [p for p in got if abs(p["rate_info_bits"] / t - 1) <= tolerance]
            if hit:
                lambdas[t] = min(hit, key=lambda p: abs(p["rate_info_bits"] / t - 1))["lmbda"]
                open_targets.remove(t)
        if not open_targets:
            break
    for t in open_targets:
        lambdas[t] = fit([(p["lmbda"], p["rate_info_bits"]) for p in points], t)
    write_points(search, lambdas, points)
    return ["-m", *rest, *([f"seed={','.join(given_seeds)}"] if given_seeds else []),
            *(["~hydra.sweeper.params.lmbda"] if "lmbda" in params else []),  # an experiment's lambdas: replaced
            f"+point={','.join(point_name(t) for t in targets)}",
            f"hydra.searchpath=[file://conf,file://{(search / 'conf').resolve()}]"]


def point_name(target: float) -> str:
    return f"t{target:g}".replace(".", "_")


def write_points(search: Path, lambdas: dict, points: list) -> None:
    """conf/point/t<bits>.yaml per target and search.json (every measured point, the cost) in ``search``."""
    from rdsweep.files import atomic_write_text

    (search / "conf" / "point").mkdir(parents=True, exist_ok=True)
    for t, lm in lambdas.items():
        atomic_write_text(search / "conf" / "point" / f"{point_name(t)}.yaml",
                          f"# @package _global_\n# placed by the lambda search ({search / 'search.json'})\n"
                          f"target_bits: {t!r}\nlmbda: {lm!r}\n")
    cost = sum(p["wall_s"] or 0.0 for p in points)
    atomic_write_text(search / "search.json", json.dumps(
        {"lambdas": {f"{t:g}": lm for t, lm in lambdas.items()}, "points": points, "search_runs": len(points),
         "search_run_s": cost}, indent=2) + "\n")
