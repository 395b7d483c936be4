"""What side information could buy a trained run: ``rdsweep sideinfo RUN_DIR...``.

A hyperprior's side information pays where the latents' statistics differ from digit to digit. This measures
that for a run's own quantized latents (the coded layer ``y``, or the only layer of a factorized model) on the
test set, with empirical entropies (bits/digit, exact for these symbols, no model assumed):

- ``static``: the sum over latents of each latent's empirical entropy, the least any fixed factorized code
  needs (no side information);
- for K = 2, 4, 16, 64 groups of digits (by which latents are non-zero, the pattern a scale model could signal:
  the K - 1 most frequent patterns a group each, the rest one group): the same sum within each group, plus the
  entropy of the group index, what coding the group costs.
  ``net`` = static - (within groups + group index): what that side information would save.

Both are in-sample (fitted on the digits they are measured on), so ``net`` is an optimistic bound: where it is
near 0 or negative, no side information of that kind pays for these latents.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

GROUPS = (2, 4, 16, 64)


def entropy_bits(column: np.ndarray) -> float:
    """Empirical entropy (bits) of one column of integers."""
    _, counts = np.unique(column, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def grouped_bits(q: np.ndarray, groups: np.ndarray) -> float:
    """Mean bits/digit of q (N, D) coded per latent with each group's own empirical distribution."""
    total = 0.0
    for g in np.unique(groups):
        rows = q[groups == g]
        total += len(rows) * sum(entropy_bits(rows[:, d]) for d in range(q.shape[1]))
    return total / len(q)


def side_information(q: np.ndarray, ks=GROUPS) -> dict:
    """{"static", "active", "groups": [{"k", "within", "index", "net"}]} for symbols q (N, D) of one run."""
    q = np.asarray(q).reshape(len(q), -1)
    static = grouped_bits(q, np.zeros(len(q), int))
    _, pattern, counts = np.unique(q != 0, axis=0, return_inverse=True, return_counts=True)
    rank = np.empty(len(counts), int)
    rank[np.argsort(-counts, kind="stable")] = np.arange(len(counts))  # 0: the most frequent pattern
    rows = []
    for k in ks:
        groups = np.minimum(rank[pattern.ravel()], k - 1)
        within, index = grouped_bits(q, groups), entropy_bits(groups)
        rows.append({"k": k, "within": within, "index": index, "net": static - within - index})
    return {"static": static, "active": int((q != 0).any(axis=0).sum()), "groups": rows}


def report(run_dirs: list[Path]) -> list[str]:
    """One line per run: its coded rate, the static bound, and what each grouping would save."""
    from rdsweep import data
    from rdsweep.experiment.rundir import load_codec, read_config

    lines = ["run | lambda | coded main layer | side | static bound | active latents | "
             + " | ".join(f"K={k}: net" for k in GROUPS)]
    for run_dir in run_dirs:
        codec = load_codec(run_dir)
        test = data.load_split(read_config(run_dir).data, "test")
        symbols = codec.encode(test)
        layer = "y" if "y" in symbols else next(iter(symbols))  # the coded latents (a hyperprior's y)
        info = codec.info_bits(symbols)
        main = float(np.mean(info[layer]))
        side = float(np.mean(info["side"])) if "side" in info else 0.0
        r = side_information(symbols[layer])
        lmbda = codec.meta.get("lmbda") or float("nan")
        lines.append(f"{run_dir} | {lmbda:g} | {main:.2f} | {side:.4f} | {r['static']:.2f} | {r['active']} | "
                     + " | ".join(f"{g['net']:+.2f} ({g['within']:.2f} + {g['index']:.2f})" for g in r["groups"]))
    return lines
