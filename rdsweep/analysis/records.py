"""Run records (metrics.json) under directories: found, validated, one row each; the rest explained.

A run directory is one holding metrics.json (complete) or failed.txt / checkpoint.msgpack without
metrics.json (failed or incomplete). Every record is validated (types, finite values, no decode mismatch);
one that fails is listed in the problems, never averaged in, and never stops the others.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from rdsweep.errors import RdsweepError
from rdsweep.files import CHECKPOINT, FAILED, METRICS, open_regular, read_regular

# a setting = the runs of one curve; runs of a setting differ only in lmbda (and seed)
SETTING = ["kind", "data", "model", "prior", "distortion", "latent_dims", "epochs", "variant", "test_digits"]
NUMBERS = {"rate_info_bits", "psnr_db", "decode_mismatches"}  # required, finite
OPTIONAL_NUMBERS = {"lmbda", "seed", "target_bits", "latent_dims", "epochs", "test_digits", "train_digits",
                    "image_pixels", "rate_string_bits", "rate_container_bits", "rate_string_floor_bits",
                    "psnr_of_mse_db", "psnr_report_formula_db", "mae", "rate_side_bits", "rate_payload_bits",
                    "train_digits_per_s", "wall_s", "ms_ssim", "ms_ssim_db"}
STRINGS = {"kind", "data", "model", "prior", "distortion", "variant", "rate_definition", "precision"}
MARKERS = [METRICS, FAILED, CHECKPOINT]
SUMMARIES = {"variable-rate"}  # records that summarise the records below them (not points of a curve)
MAX_RECORD = 1 << 20  # bytes of a metrics.json (a real one holds a few KB): a larger one is not read
MAX_REASON = 4096  # bytes of failed.txt shown
MAX_TEXT = 200  # characters of a record's text field (a name: a run's own are a few dozen)
MAX_FIELDS = 256  # fields of a record (a run's own hold about 40): each becomes a column of the table


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v) -> bool:
    """A number a float holds well enough to average and plot: finite; an integer within +-2**53 (10**400 is
    a valid JSON number that no float holds)."""
    return _is_number(v) and (abs(v) <= 2**53 if isinstance(v, int) else math.isfinite(v))


def _unicode(s: str) -> bool:
    """Text that can be written out (JSON allows lone surrogates such as "\\ud800"; UTF-8 does not)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_record(record) -> str | None:
    """Why a record cannot be used (None if it can)."""
    if not isinstance(record, dict):
        return "metrics.json is not a JSON object"
    if len(record) > MAX_FIELDS:
        return f"metrics.json holds {len(record):,} fields, more than a run record's {MAX_FIELDS}"
    missing = sorted(NUMBERS - set(record))
    if missing:
        return f"metrics.json lacks {', '.join(missing)}"
    for k in sorted(NUMBERS | (OPTIONAL_NUMBERS & set(record))):
        v = record[k]
        if v in (None, "-") and k in OPTIONAL_NUMBERS:  # not applicable (e.g. a baseline's latent_dims)
            continue
        if not _finite(v):
            return f"{k} is {_short(v)}, not a finite number"
    for k in sorted(STRINGS & set(record)):
        if not isinstance(record[k], str) and record[k] is not None:
            return f"{k} is {_short(record[k])}, not a string"
        if isinstance(record[k], str) and any(c < " " for c in record[k]):
            return f"{k} is {_short(record[k])}, not one line of text"
        if isinstance(record[k], str) and len(record[k]) > MAX_TEXT:
            return f"{k} is {len(record[k]):,} characters long, more than a run record's {MAX_TEXT}"
    for k, v in record.items():
        if not _unicode(k) or isinstance(v, str) and not _unicode(v):
            return f"{_short(k)} holds text that is not valid Unicode"
    if record["decode_mismatches"]:
        return f"{record['decode_mismatches']} decode mismatches"
    if record.get("search") is True:
        return "a run of the lambda search (target_bits), not a result"
    if record.get("kind", "learned") == "learned":
        if not (_is_number(record.get("lmbda")) and record["lmbda"] > 0):
            return f"lmbda is {record.get('lmbda')!r}, not a number > 0"
        for k in ("latent_dims", "epochs", "test_digits"):  # where a learned run sits: numbers ("-" is a baseline's)
            if (k in record or k == "latent_dims") and not _finite(record.get(k)):
                return f"{k} is {_short(record.get(k))}: a learned run's record gives it as a number"
        if record.get("epochs", 1) < 1:
            return "trained for 0 epochs: an untrained model"
    return None


MAX_DEPTH = 32  # directory levels searched below each directory given


def run_dirs_under(top: Path, problems: list) -> set:
    """The directories at or under ``top`` holding a MARKERS file: walked without recursion (any nesting),
    links to directories not followed, at most MAX_DEPTH levels (a deeper tree is reported, not searched)."""
    found, stack, deep = set(), [(Path(top), 0)], 0
    while stack:
        d, depth = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        if any(e.name in MARKERS for e in entries):
            found.add(d)
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                if depth < MAX_DEPTH:
                    stack.append((Path(e.path), depth + 1))
                else:
                    deep += 1
    if deep:
        problems.append(f"{top}: {deep} directories deeper than {MAX_DEPTH} levels were not searched")
    return found


def find_runs(dirs) -> tuple[pd.DataFrame, list[str]]:
    """(one row per usable run, sorted; messages for the failed, incomplete and invalid ones)."""
    rows, problems = [], []
    run_dirs = sorted(set().union(*(run_dirs_under(Path(d), problems) for d in dirs if Path(d).is_dir())))
    for run_dir in run_dirs:
        if (run_dir / FAILED).exists() or (run_dir / FAILED).is_symlink():
            try:  # a regular file, its first MAX_REASON bytes: never a FIFO (blocks) or /dev/zero (never ends)
                with open_regular(run_dir / FAILED, 1 << 62) as (f, _):
                    reason = f.read(MAX_REASON).decode("utf-8", "replace").strip()
            except (RdsweepError, OSError) as e:
                reason = f"(unreadable {FAILED}: {e})"
            problems.append(f"{run_dir}: failed: {' '.join(reason.split())}")
            continue
        if not (run_dir / METRICS).exists():
            problems.append(f"{run_dir}: incomplete (no {METRICS})")
            continue
        try:
            record = json.loads(read_regular(run_dir / METRICS, MAX_RECORD).decode("utf-8"))
        except (RdsweepError, OSError, ValueError, RecursionError) as e:  # ValueError: bad UTF-8, JSON, 10**5000
            problems.append(f"{run_dir}: unreadable {METRICS} ({e})")
            continue
        if isinstance(record, dict) and record.get("kind") in SUMMARIES:
            continue  # its records are in its subdirectories (a variable-rate run's points)
        why = check_record(record)
        if why:
            problems.append(f"{run_dir}: left out: {why}")
            continue
        rows.append({"kind": "learned", **{k: v for k, v in record.items() if not isinstance(v, (dict, list))},
                     "run": str(run_dir)})
    df = pd.DataFrame(rows)
    if len(df):
        for col in SETTING + ["lmbda", "seed"]:
            df[col] = df[col].astype(object).where(df[col].notna() & (df[col] != ""), "-") if col in df else "-"
        df = df.sort_values(SETTING + ["lmbda", "seed", "run"], key=lambda s: s.map(_sort_key),
                            kind="mergesort").reset_index(drop=True)
        key = SETTING + ["lmbda", "seed"]  # one run found twice (a copy, or a smoke test's directory under two
        first = df.groupby(key, sort=False, dropna=False)["run"].transform("first")  # of the directories given)
        same = df["run"] != first
        problems += [f"{r}: left out: the same setting, lambda and seed as {f}" for r, f in zip(df["run"][same],
                                                                                                 first[same])]
        df = df[~same].reset_index(drop=True)
    return df, problems


def _short(v, n: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= n else f"{text[:n]}... ({len(text)} characters)"


def _sort_key(v):
    return (0, float(v), "") if _is_number(v) else (1, 0.0, str(v))


def learned(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["kind"] == "learned"] if len(df) else df


def baselines(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["kind"] == "baseline"] if len(df) else df


def whole(value):
    """A whole float as an int (columns become float once joined with the baselines' NaNs)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def setting_label(key: tuple, show_test_digits: bool = False) -> str:
    """A readable name for a learned setting (SETTING values); data and model named unless the defaults."""
    s = dict(zip(SETTING, key))
    s = {k: whole(v) for k, v in s.items()}
    parts = [s["prior"], s["distortion"], f"latent {s['latent_dims']}", f"{s['epochs']} ep"]
    if s["model"] not in ("seed", "-"):
        parts.insert(0, s["model"])
    if s["data"] not in ("mnist", "-"):
        parts.insert(0, s["data"])
    if s["variant"] not in ("", "-"):
        parts.append(str(s["variant"]))
    if show_test_digits:
        parts.append(f"{s['test_digits']} test digits")
    return ", ".join(str(p) for p in parts)
