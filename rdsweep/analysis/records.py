"""Run records (metrics.json) under directories: found, validated, one row each; the rest explained.

A run directory is one holding metrics.json (complete) or failed.txt / checkpoint.msgpack without
metrics.json (failed or incomplete). Every record is validated (types, finite values, no decode mismatch);
one that fails is listed in the problems, never averaged in, and never stops the others.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from rdsweep.files import CHECKPOINT, FAILED, METRICS

# a setting = the runs of one curve; runs of a setting differ only in lmbda (and seed)
SETTING = ["kind", "data", "model", "prior", "distortion", "latent_dims", "epochs", "test_digits"]
NUMBERS = {"rate_info_bits", "psnr_db", "decode_mismatches"}  # required, finite
OPTIONAL_NUMBERS = {"lmbda", "seed", "latent_dims", "epochs", "test_digits", "train_digits", "rate_string_bits",
                    "rate_container_bits", "rate_string_floor_bits", "psnr_of_mse_db", "psnr_report_formula_db",
                    "mae", "rate_side_bits", "rate_payload_bits", "train_digits_per_s", "wall_s"}
STRINGS = {"kind", "data", "model", "prior", "distortion", "rate_definition"}
MARKERS = [METRICS, FAILED, CHECKPOINT]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_record(record) -> str | None:
    """Why a record cannot be used (None if it can)."""
    if not isinstance(record, dict):
        return "metrics.json is not a JSON object"
    missing = sorted(NUMBERS - set(record))
    if missing:
        return f"metrics.json lacks {', '.join(missing)}"
    for k in sorted(NUMBERS | (OPTIONAL_NUMBERS & set(record))):
        v = record[k]
        if v in (None, "-") and k in OPTIONAL_NUMBERS:  # not applicable (e.g. a baseline's latent_dims)
            continue
        if not _is_number(v) or not math.isfinite(v):
            return f"{k} is {v!r}, not a finite number"
    for k in sorted(STRINGS & set(record)):
        if not isinstance(record[k], str) and record[k] is not None:
            return f"{k} is {record[k]!r}, not a string"
    if record["decode_mismatches"]:
        return f"{record['decode_mismatches']} decode mismatches"
    if record.get("kind", "learned") == "learned" and not (_is_number(record.get("lmbda")) and record["lmbda"] > 0):
        return f"lmbda is {record.get('lmbda')!r}, not a number > 0"
    return None


def find_runs(dirs) -> tuple[pd.DataFrame, list[str]]:
    """(one row per usable run, sorted; messages for the failed, incomplete and invalid ones)."""
    rows, problems = [], []
    run_dirs = sorted({p.parent for d in dirs if Path(d).is_dir() for m in MARKERS for p in Path(d).rglob(m)})
    for run_dir in run_dirs:
        if (run_dir / FAILED).exists():
            reason = (run_dir / FAILED).read_bytes().decode("utf-8", "replace").strip()
            problems.append(f"{run_dir}: failed: {' '.join(reason.split())}")
            continue
        if not (run_dir / METRICS).exists():
            problems.append(f"{run_dir}: incomplete (no {METRICS})")
            continue
        try:
            record = json.loads((run_dir / METRICS).read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            problems.append(f"{run_dir}: unreadable {METRICS} ({e})")
            continue
        why = check_record(record)
        if why:
            problems.append(f"{run_dir}: left out: {why}")
            continue
        rows.append({"kind": "learned", **{k: v for k, v in record.items() if not isinstance(v, (dict, list))},
                     "run": str(run_dir)})
    df = pd.DataFrame(rows)
    if len(df):
        for col in SETTING + ["lmbda", "seed"]:
            df[col] = df[col].astype(object).where(df[col].notna(), "-") if col in df else "-"
        df = df.sort_values(SETTING + ["lmbda", "seed", "run"], key=lambda s: s.map(_sort_key),
                            kind="mergesort").reset_index(drop=True)
    return df, problems


def _sort_key(v):
    return (0, float(v), "") if _is_number(v) else (1, 0.0, str(v))


def learned(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["kind"] == "learned"] if len(df) else df


def baselines(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["kind"] == "baseline"] if len(df) else df


def setting_label(key: tuple, show_test_digits: bool = False) -> str:
    """A readable name for a learned setting (SETTING values); data and model named unless the defaults."""
    s = dict(zip(SETTING, key))
    parts = [s["prior"], s["distortion"], f"latent {s['latent_dims']}", f"{s['epochs']} ep"]
    if s["model"] not in ("seed", "-"):
        parts.insert(0, s["model"])
    if s["data"] not in ("mnist", "-"):
        parts.insert(0, s["data"])
    if show_test_digits:
        parts.append(f"{s['test_digits']} test digits")
    return ", ".join(str(p) for p in parts)
