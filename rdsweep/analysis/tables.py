"""table1.md: our rate and PSNR at each lambda next to the report's Table 1 and the TFC re-run (analysis.reference);
mean +- 95% interval over seeds where a setting has several."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rdsweep.analysis.reference import REFERENCE_RERUN, REPORT_TABLE1


def _fmt(row, key, digits: int = 2) -> str:
    mean, ci = row.get(f"{key}_mean", np.nan), row.get(f"{key}_ci95", np.nan)
    if pd.isna(mean):
        return "-"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}" if pd.notna(ci) else f"{mean:.{digits}f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def table1(settings: list) -> str:
    """settings: (label, summary rows of one learned setting, as stats.summarize gives them) pairs."""
    digits = sorted({n for _, g in settings for n in g["test_digits"]} - {"-"})
    lines = [f"# Table 1: rate (bits/digit) and PSNR (dB) on the test digits ({', '.join(map(str, digits)) or '?'} "
             "per run)", "",
             "Ours: rate = information content of the coded latents (strings: mean per-digit string length); "
             "PSNR = mean per-digit PSNR on uint8; with several seeds, mean ± half-width of the 95% Student-t "
             "interval over seeds (n). Report = Table 1 of Y. Gomes, 'Learned Data Compression using MNIST dataset' "
             "(ENS Paris-Saclay student report, 2024); TFC re-run = the TensorFlow Compression MNIST tutorial's "
             "model (logistic prior, MAE) re-run with TF 2.14. 'dominates' = lower rate and higher PSNR "
             "than that point (on the means). The report's PSNR column does not follow from its own formula "
             "(its code squares uint8 differences, which wrap modulo 256); 'PSNR, report's formula' is our "
             "reconstructions measured that way, the like-for-like comparison with its column.", ""]
    for label, g in settings:
        if "target_bits" in g and g["target_bits"].notna().any():  # a sweep placed by target rates
            lines += [f"## {label}: where the target rates landed", "", "| target (bits/digit) | lambda found | n | "
                      "rate | landed |", "|---|---|---|---|---|"]
            for _, r in g[g["target_bits"].notna()].sort_values("target_bits").iterrows():
                landed = 100 * (r["rate_info_bits_mean"] / r["target_bits"] - 1)
                lines.append(f"| {r['target_bits']:g} | {r['lmbda']:.4g} | {r['n_seeds']} | "
                             f"{_fmt(r, 'rate_info_bits')} | {landed:+.1f} % |")
            lines.append("")
        lines += [f"## {label}", "",
                  "| lambda | n | rate | strings | PSNR | MAE | PSNR, report's formula | report rate | report PSNR "
                  "| TFC re-run rate | TFC re-run PSNR | dominates TFC re-run | dominates report (its formula) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in g.iterrows():
            lam = int(r["lmbda"]) if float(r["lmbda"]).is_integer() else f"{r['lmbda']:.6g}"
            rep, ref = REPORT_TABLE1.get(lam), REFERENCE_RERUN.get(lam)
            rate, psnr, rep_psnr = r["rate_info_bits_mean"], r["psnr_db_mean"], r.get("psnr_report_formula_db_mean")
            dom_ref = "-" if ref is None else _yes(rate < ref[0] and psnr > ref[1])
            dom_rep = "-" if rep is None or pd.isna(rep_psnr) else _yes(rate < rep[0] and rep_psnr > rep[1])
            lines.append(
                f"| {lam} | {r['n_seeds']} | {_fmt(r, 'rate_info_bits')} | {_fmt(r, 'rate_string_bits')} | "
                f"{_fmt(r, 'psnr_db')} | {_fmt(r, 'mae', 4)} | {_fmt(r, 'psnr_report_formula_db')} | "
                f"{rep[0] if rep else '-'} | {rep[1] if rep else '-'} | {ref[0] if ref else '-'} | "
                f"{ref[1] if ref else '-'} | {dom_ref} | {dom_rep} |")
        lines.append("")
    return "\n".join(lines)
