"""Figures of the aggregation stage: Figure 6 (rate vs PSNR) and the latent-dimension study.

Drawn with matplotlib's object API (``matplotlib.figure.Figure``): no backend, no global state.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from rdsweep.analysis.bd import curve
from rdsweep.analysis.reference import REFERENCE_RERUN, REPORT_TABLE1

MARKERS = "osD^v<>phX*P"
COLORS = matplotlib.colormaps["tab20"].colors


def styles():
    """An endless supply of distinct (colour, marker) pairs: no two series look alike."""
    for i in itertools.count():
        yield COLORS[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20], MARKERS[i % len(MARKERS)]


def save(fig: Figure, out: Path, name: str, svg: bool = False) -> None:
    fig.savefig(out / f"{name}.png", dpi=120, metadata={"Software": None})
    if svg:
        matplotlib.rcParams["svg.hashsalt"] = "rdsweep"  # deterministic SVG ids
        fig.savefig(out / f"{name}.svg", metadata={"Date": None, "Creator": None})


def rd_figure(settings: list, baselines: list, out: Path) -> None:
    """settings / baselines: (label, runs) pairs. Writes rd_curve.png and .svg."""
    fig = Figure(figsize=(8, 5.5), layout="tight")
    ax = fig.add_subplot()
    style = styles()
    for label, g in settings:
        c, m = next(style)
        ax.plot(g["rate_info_bits"], g["psnr_db"], "-", marker=m, color=c, lw=2, label=label)
    for label, g in baselines:
        r, d = curve(g)
        if len(r) >= 2:
            c, m = next(style)
            what = " (whole files)" if "file" in str(g["rate_definition"].iloc[0]) else ""
            ax.plot(r, d, "--", marker=m, color=c, lw=1, ms=4, label=f"{label}{what}")
    if baselines:
        ax.set_xscale("log")
    lam = sorted(REPORT_TABLE1)
    ax.plot([REPORT_TABLE1[k][0] for k in lam], [REPORT_TABLE1[k][1] for k in lam], "k*--", ms=10,
            label="report, Table 1 (its PSNR code wraps uint8)")
    for k in lam:
        ax.annotate(f"λ={k}", REPORT_TABLE1[k], textcoords="offset points", xytext=(5, -12), fontsize=8)
    c, m = next(style)
    ax.plot([REFERENCE_RERUN[k][0] for k in lam], [REFERENCE_RERUN[k][1] for k in lam], ":", marker=m, color=c,
            label="TFC tutorial re-run")
    ax.set_xlabel("rate (bits/digit)")
    ax.set_ylabel("PSNR (dB), mean over test digits")
    ax.set_title("Rate-distortion on the test digits (Figure 6)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, out, "rd_curve", svg=True)


def latent_figure(df, out: Path) -> bool:
    """Rate and PSNR against latent_dims, one line per (prior, lambda): written when several latent sizes exist."""
    if df["latent_dims"].nunique() < 2:
        return False
    fig = Figure(figsize=(10, 4), layout="tight")
    a1, a2 = fig.subplots(1, 2)
    style = styles()
    for (prior, lmbda), g in df.groupby(["prior", "lmbda"], sort=True):
        g = g.sort_values("latent_dims")
        c, m = next(style)
        a1.plot(g["latent_dims"], g["psnr_db"], "-", marker=m, color=c, label=f"{prior}, λ={lmbda:g}")
        a2.plot(g["latent_dims"], g["rate_info_bits"], "-", marker=m, color=c, label=f"{prior}, λ={lmbda:g}")
    for ax, name in ((a1, "PSNR (dB)"), (a2, "rate (bits/digit)")):
        ax.set_xscale("log")
        ax.set_xlabel("latent dimensions")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Does the latent dimension matter? (same lambda, same training)")
    save(fig, out, "latent_study")
    return True
