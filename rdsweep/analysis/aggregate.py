"""The aggregation stage: every run record under one or more directories -> rd.csv, table1.md, rd_curve.png/.svg,
bd.csv (BD-rates between curves), latent_study.png (when several latent sizes exist).

    rdsweep aggregate outputs/sweeps [MORE_DIRS...] [--out DIR]

Bad, failed and incomplete runs are listed in one warning each and left out; a directory that does not exist
yet holds no runs. The stage writes whatever the usable runs support (baselines alone make a valid table
and figure) and is deterministic: running it twice gives identical files.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from rdsweep.analysis import plots, records
from rdsweep.analysis.bd import bd_table
from rdsweep.analysis.records import SETTING, setting_label
from rdsweep.analysis.tables import table1
from rdsweep.errors import RdsweepError
from rdsweep.files import atomic_write_text


def _settings(df: pd.DataFrame) -> list:
    """(label, runs) of each learned setting; the test set named where runs differ in it."""
    several = df["test_digits"].nunique() > 1
    return [(setting_label(key, several), g) for key, g in df.groupby(SETTING, sort=True)]


def aggregate(dirs, out: Path) -> pd.DataFrame:
    missing = [str(d) for d in dirs if not Path(d).is_dir()]
    if missing:
        print(f"rdsweep aggregate: note: no runs yet in {', '.join(missing)} (no such directory)", file=sys.stderr)
    df, problems = records.find_runs(dirs)
    for p in problems:
        print(f"rdsweep aggregate: warning: {p}", file=sys.stderr)
    if df.empty:
        raise RdsweepError(f"no complete runs (metrics.json) under {', '.join(map(str, dirs))}")
    learned = records.learned(df)
    settings = _settings(learned) if len(learned) else []
    bases = [(m, g) for m, g in records.baselines(df).groupby("prior", sort=True)]
    if len(learned) and learned["test_digits"].nunique() > 1:
        print("rdsweep aggregate: warning: runs were evaluated on different test sets "
              f"({', '.join(map(str, sorted(learned['test_digits'].unique(), key=str)))} digits): "
              "kept as separate curves", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "rd.csv", df.to_csv(index=False, float_format="%.6g"))
    written = ["rd.csv", "rd_curve.png", "rd_curve.svg"]
    if settings:
        atomic_write_text(out / "table1.md", table1(settings))
        written.insert(1, "table1.md")
    plots.rd_figure(settings, bases, out)
    if len(learned) and plots.latent_figure(learned, out):
        written.append("latent_study.png")
    if settings and (bases or len(settings) > 1):
        try:
            import bjontegaard  # noqa: F401
        except ImportError:
            print("rdsweep aggregate: warning: no bd.csv: BD-rates need bjontegaard (pip install "
                  "'rdsweep[baselines]')", file=sys.stderr)
        else:
            table = bd_table(settings, settings + bases)
            atomic_write_text(out / "bd.csv", table.to_csv(index=False, float_format="%.4g"))
            written.append("bd.csv")
    print(f"{len(df)} runs ({len(problems)} left out) -> {out}/{', '.join(written)}")
    return df
