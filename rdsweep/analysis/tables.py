"""table1.md: our rate and PSNR at each lambda next to the report's Table 1 and the TFC re-run (SPEC)."""
from __future__ import annotations

import pandas as pd

from rdsweep.analysis.reference import REFERENCE_RERUN, REPORT_TABLE1


def _fmt(row, key) -> str:
    return f"{row[key]:.2f}" if key in row and pd.notna(row[key]) and row[key] != "-" else "-"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def table1(settings: list) -> str:
    """settings: (label, runs of one learned setting) pairs."""
    digits = sorted({n for _, g in settings for n in g["test_digits"]} - {"-"})
    lines = [f"# Table 1: rate (bits/digit) and PSNR (dB) on the test digits ({', '.join(map(str, digits)) or '?'} "
             "per run)", "",
             "Ours: rate = information content of the coded latents (strings: mean per-digit string length); "
             "PSNR = mean per-digit PSNR on uint8. Report = the student report's Table 1; TFC re-run = the "
             "TensorFlow Compression tutorial re-run in SPEC (logistic prior, MAE). 'dominates' = lower rate "
             "and higher PSNR than that point. The report's PSNR column does not follow from its own formula "
             "(SPEC): its code squares uint8 differences, which wrap modulo 256; 'PSNR, report's formula' is "
             "our reconstructions measured that way, the like-for-like comparison with its column.", ""]
    for label, g in settings:
        lines += [f"## {label}", "",
                  "| lambda | rate | strings | PSNR | PSNR of MSE | PSNR, report's formula | report rate | report PSNR "
                  "| TFC re-run rate | TFC re-run PSNR | dominates TFC re-run | dominates report (its formula) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in g.iterrows():
            lam = int(r["lmbda"]) if float(r["lmbda"]).is_integer() else r["lmbda"]
            rep, ref = REPORT_TABLE1.get(lam), REFERENCE_RERUN.get(lam)
            strings, psnr_mse, psnr_rep = (_fmt(r, k) for k in ("rate_string_bits", "psnr_of_mse_db",
                                                                  "psnr_report_formula_db"))
            dom_ref = "-" if ref is None else _yes(r["rate_info_bits"] < ref[0] and r["psnr_db"] > ref[1])
            dom_rep = "-" if rep is None or psnr_rep == "-" else _yes(
                r["rate_info_bits"] < rep[0] and r["psnr_report_formula_db"] > rep[1])
            lines.append(
                f"| {lam} | {r['rate_info_bits']:.2f} | {strings} | {r['psnr_db']:.2f} | {psnr_mse} | {psnr_rep} | "
                f"{rep[0] if rep else '-'} | {rep[1] if rep else '-'} | {ref[0] if ref else '-'} | "
                f"{ref[1] if ref else '-'} | {dom_ref} | {dom_rep} |")
        lines.append("")
    return "\n".join(lines)
