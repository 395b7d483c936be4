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

The search sees one seed; the sweep's mean is over all of them, and where the curve is steep (the knee at a few
bits/digit) the seeds' spread moves that mean by more than the search's tolerance. So the sweep settles itself:
a target whose mean rate over the sweep's seeds landed further than ``SETTLE`` from it is moved once more, from
that mean along the first seed's local slope (the seeds' curves taken as parallel in log-log), and run again for
every seed; its first runs move to ``<sweep dir>-search/settle<k>/`` as search runs (counted in the cost).
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
TOLERANCE = 0.05  # a search run this close to a target places it
SETTLE = 0.10  # a target whose seed-mean rate lands further than this from it is moved and run again
CORRECTIONS = 1  # how many times at most


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
    seg = _segment(points, math.log(target))
    if seg is None:
        return guess(target)
    x, y, slope = seg
    return float(math.exp(x + (math.log(target) - y) / slope))


def _segment(points: list[tuple[float, float]], t: float) -> tuple[float, float, float] | None:
    """(log lambda, log rate, slope) of the piecewise-linear log-log fit's segment holding log rate ``t`` (or
    the end segment beyond the points; SLOPE through a single point); None without points."""
    pts = sorted((lm, r) for lm, r in points if r > 0 and lm > 0)
    mono = [pts[0]] if pts else []
    for lm, r in pts[1:]:
        if r > mono[-1][1] and lm > mono[-1][0]:
            mono.append((lm, r))
    if not mono:
        return None
    x, y = np.log([p[0] for p in mono]), np.log([p[1] for p in mono])
    if len(mono) == 1:
        return float(x[0]), float(y[0]), SLOPE
    i = int(np.clip(np.searchsorted(y, t) - 1, 0, len(mono) - 2))  # the segment holding t (or the end one)
    return float(x[i]), float(y[i]), max((y[i + 1] - y[i]) / (x[i + 1] - x[i]), MIN_SLOPE)


def correct(points: list[tuple[float, float]], lmbda: float, mean: float, target: float) -> float:
    """The lambda for ``target`` from a mean rate ``mean`` (over seeds) measured at ``lmbda``: that point moved
    along the local slope of the fit through ``points`` (the first seed's), at most MAX_STEP away."""
    seg = _segment(points, math.log(mean))
    slope = seg[2] if seg is not None else SLOPE
    return float(np.clip(lmbda * (target / mean) ** (1 / slope), lmbda / MAX_STEP, lmbda * MAX_STEP))


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


def _records(top: Path) -> list[tuple[Path, dict]]:
    """(metrics.json path, record) of every run below ``top`` with a rate (unreadable records skipped)."""
    out = []
    for path in sorted(top.rglob("metrics.json")) if top.is_dir() else []:
        try:
            m = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and isinstance(m.get("rate_info_bits"), (int, float)) \
                and isinstance(m.get("lmbda"), (int, float)):
            out.append((path, m))
    return out


def _measured(round_dir: Path) -> list[dict]:
    return [{"lmbda": float(m["lmbda"]), "rate_info_bits": float(m["rate_info_bits"]), "psnr_db": m.get("psnr_db"),
             "wall_s": m.get("wall_s", 0.0), "run": str(path.parent)}
            for path, m in _records(round_dir) if not m.get("decode_mismatches")]


def _placed(records: list, target: float, lmbda: float) -> list[tuple[Path, dict]]:
    """The records placed at ``target`` with ``lmbda``."""
    return [(path, m) for path, m in records
            if m.get("target_bits") == target and math.isclose(m["lmbda"], lmbda, rel_tol=1e-6)]


def place(argv: list[str], rounds: int = ROUNDS, tolerance: float = TOLERANCE) -> int | None:
    """For a command line sweeping ``target_bits``: the search, the sweep over the placed points, then up to
    CORRECTIONS settling steps; the first failed sweep's exit status, else 0. None for any other command line
    (nothing run)."""
    split = _split(argv)
    if split is None:
        return None
    targets, given_seeds, rest = split
    sweep_dir, params = _composed(rest)
    seeds = given_seeds or str(params.get("seed", "0")).split(",")
    search = Path(str(sweep_dir) + "-search")
    lambdas, points = _search(targets, seeds[0], rest, search, rounds, tolerance)
    write_points(search, lambdas, points)
    seed_arg = [f"seed={','.join(given_seeds)}"] if given_seeds else []
    sweep = [sys.executable, "-m", "rdsweep", "-m", *rest, *seed_arg,
             *(["~hydra.sweeper.params.lmbda"] if "lmbda" in params else []),  # an experiment's lambdas: replaced
             f"hydra.searchpath=[file://conf,file://{(search / 'conf').resolve()}]"]
    todo, status = list(targets), 0
    for k in range(1, CORRECTIONS + 2):
        settled = search / f"settle{k}"
        moved = _records(settled)
        runs = [t for t in todo if not _placed(moved, t, lambdas[t])]  # a resumed sweep: moved ones are done
        if runs:
            done = subprocess.run([*sweep, f"+point={','.join(point_name(t) for t in runs)}"])
            status = status or done.returncode
        if k > CORRECTIONS:
            break
        todo = settle(sweep_dir, settled, todo, lambdas, points)
        if not todo:
            break
        write_points(search, lambdas, points)
    return status


def _search(targets, seed, rest, search: Path, rounds: int, tolerance: float) -> tuple[dict, list]:
    """({target: lambda}, every measured point): rounds of full runs on ``seed`` in ``search``/round<k>."""
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
    return lambdas, points


def settle(sweep_dir: Path, settled: Path, todo: list, lambdas: dict, points: list, limit: float = SETTLE) -> list:
    """The targets of ``todo`` whose mean rate over the sweep's runs (in ``sweep_dir``, or already moved to
    ``settled``) lies further than ``limit`` from them. Each gets its corrected lambda in ``lambdas`` and its
    mean as a point (``round: settle<k>``, its runs' seconds) in ``points``; its runs move to ``settled`` as search
    runs (their records marked ``search: true``). A target without runs is left alone."""
    from rdsweep.files import atomic_write_text, rename_noreplace

    missed, moved, swept = [], _records(settled), _records(sweep_dir)
    first = [(p["lmbda"], p["rate_info_bits"]) for p in points if isinstance(p.get("round"), int)]
    for t in todo:
        recs = _placed(moved, t, lambdas[t]) or _placed(swept, t, lambdas[t])
        if not recs:
            continue
        mean = float(np.mean([m["rate_info_bits"] for _, m in recs]))
        if abs(mean / t - 1) <= limit:
            continue
        for path, m in recs:
            if not path.is_relative_to(settled):
                to = settled / path.parent.relative_to(sweep_dir)
                to.parent.mkdir(parents=True, exist_ok=True)
                rename_noreplace(path.parent, to)
                atomic_write_text(to / path.name, json.dumps({**m, "search": True}, indent=2) + "\n")
        points.append({"lmbda": lambdas[t], "rate_info_bits": mean, "seeds": len(recs), "round": settled.name,
                       "wall_s": sum(m.get("wall_s") or 0.0 for _, m in recs), "target_bits": t})
        corrected = correct(first, lambdas[t], mean, t)
        print(f"rdsweep: target {t:g} landed at {mean:.3g} bits/digit over {len(recs)} seed(s) "
              f"({100 * (mean / t - 1):+.1f} %, more than {100 * limit:g} %): lambda {lambdas[t]:g} -> {corrected:g}, "
              "run again", file=sys.stderr)
        lambdas[t] = corrected
        missed.append(t)
    return missed


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
        {"lambdas": {f"{t:g}": lm for t, lm in lambdas.items()}, "points": points,
         "search_runs": sum(p.get("seeds", 1) for p in points),
         "search_run_s": cost}, indent=2) + "\n")
