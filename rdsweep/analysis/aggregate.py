"""The aggregation stage: every run record under one or more directories -> rd.csv (one row per run),
rd_summary.csv (per setting and lambda: mean and 95% interval over seeds), table1.md, rd_curve.png/.svg
(Figure 6), bd.csv (BD-rates between curves, with intervals over seeds and, on the same test digits, paired
intervals over the digits), paired.csv (rate and PSNR differences on the same digits), bound.csv (the distance
to NERD's estimate of R(D)), latent_study.png.

    rdsweep aggregate outputs/sweeps [MORE_DIRS...] [--out DIR]

Runs that differ only in seed are one setting. Bad, failed and incomplete runs are listed in one warning each
and left out; a directory that does not exist yet holds no runs. The stage writes whatever the usable runs
support (baselines alone make a valid table and figure) and is deterministic: twice gives identical files.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from rdsweep.analysis import plots, records
from rdsweep.analysis.bd import bd_table, gap_to_bound
from rdsweep.analysis.paired import paired
from rdsweep.analysis.reference import NERD, nerd_psnr
from rdsweep.analysis.records import SETTING, setting_label, whole
from rdsweep.analysis.stats import summarize
from rdsweep.analysis.tables import table1
from rdsweep.errors import RdsweepError
from rdsweep.files import atomic_write_text


def _warn(message: str) -> None:
    """One line per warning: a control character in a path (a newline in a directory name) is shown escaped."""
    shown = "".join(c if c >= " " and c != "\x7f" else repr(c)[1:-1] for c in message)
    print(f"rdsweep aggregate: warning: {shown}", file=sys.stderr)


def _labels(learned: pd.DataFrame, several_sets: bool) -> dict:
    """A readable, unique name per setting (the fields that tell two alike names apart appended)."""
    keys = [k for k, _ in learned.groupby(SETTING, sort=True)] if len(learned) else []
    labels = {k: setting_label(k, several_sets) for k in keys}
    for k in keys:
        twins = [o for o in keys if o != k and labels[o].split(" [")[0] == labels[k].split(" [")[0]]
        if twins:
            differ = [f"{c}={whole(v)}" for i, (c, v) in enumerate(zip(SETTING, k)) if any(o[i] != v for o in twins)]
            labels[k] = f"{labels[k]} [{', '.join(differ)}]"
    return labels


def aggregate(dirs, out: Path) -> pd.DataFrame:
    missing = [str(d) for d in dirs if not Path(d).is_dir()]
    if missing:
        print(f"rdsweep aggregate: note: no runs yet in {', '.join(missing)} (no such directory)", file=sys.stderr)
    df, problems = records.find_runs(dirs)
    for p in problems:
        _warn(p)
    if df.empty:
        raise RdsweepError(f"no complete runs (metrics.json) under {', '.join(map(str, dirs))}")
    learned = records.learned(df)
    summary = summarize(learned) if len(learned) else pd.DataFrame()
    several_sets = len(learned) and learned["test_digits"].nunique() > 1
    if several_sets:
        sets = ", ".join(map(str, sorted(learned["test_digits"].unique(), key=str)))
        _warn(f"runs were evaluated on different test sets ({sets} digits): kept as separate curves")
    labels = _labels(learned, several_sets)
    runs = [(labels[k], g) for k, g in learned.groupby(SETTING, sort=True)] if len(learned) else []
    summaries = [(labels[k], g) for k, g in summary.groupby(SETTING, sort=True)] if len(summary) else []
    bases = [(m, g) for m, g in records.baselines(df).groupby("prior", sort=True)]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "rd.csv", df.to_csv(index=False, float_format="%.6g"))
    written = ["rd.csv"]
    if summaries:
        atomic_write_text(out / "rd_summary.csv", summary.to_csv(index=False, float_format="%.6g"))
        atomic_write_text(out / "table1.md", table1(summaries))
        written += ["rd_summary.csv", "table1.md"]
    plots.rd_figure(summaries, bases, out, plots.pixels_of(df))
    bound = [(r, nerd_psnr(d)) for r, d in NERD]
    gaps = [row for label, g in summaries for row in gap_to_bound(label, g, bound)]
    if gaps:  # how far each curve is from NERD's estimate of R(D), at equal distortion
        atomic_write_text(out / "bound.csv", pd.DataFrame(gaps).to_csv(index=False, float_format="%.4g"))
        written.append("bound.csv")
    written += ["rd_curve.png", "rd_curve.svg"]
    if len(summary) and plots.latent_figure(summary, out, labels):
        written.append("latent_study.png")
    if runs and (bases or len(runs) > 1):
        try:
            import bjontegaard  # noqa: F401
        except ImportError:
            _warn("no bd.csv: BD-rates need bjontegaard (pip install 'rdsweep[baselines]')")
        else:
            table, note = bd_table(runs, runs + bases)
            if note:
                _warn(note)
            pairs, differences = paired(runs)
            if len(pairs):  # learned vs learned on the same test digits: the interval of the digits' choice
                table = table.merge(pairs, on=["learned", "baseline"], how="left")
            if len(differences):
                atomic_write_text(out / "paired.csv", differences.to_csv(index=False, float_format="%.4g"))
                written.append("paired.csv")
            atomic_write_text(out / "bd.csv", table.to_csv(index=False, float_format="%.4g"))
            written.append("bd.csv")
    print(f"{len(df)} runs ({len(problems)} left out) -> {out}/{', '.join(written)}")
    return df
