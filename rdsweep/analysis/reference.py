"""The published numbers we compare against (../shared/SPEC.md)."""

# Table 1 of the report (5 epochs, latent 50): lambda -> (rate bits/digit, PSNR dB)
REPORT_TABLE1 = {300: (12.84, 18.37), 500: (18.85, 22.72), 1000: (30.128, 26.81), 2000: (49.27, 34.5)}

# TF 2.14 + tensorflow-compression re-run of the tutorial's exact model (logistic prior, MAE, 5 epochs):
# lambda -> (rate bits/digit, mean per-digit PSNR dB, PSNR of mean MSE dB, MAE, string bits)
REFERENCE_RERUN = {
    300: (11.45, 11.93, 11.55, 0.102, 13.17),
    500: (17.31, 13.58, 13.20, 0.082, 20.12),
    1000: (31.99, 16.34, 15.92, 0.054, 34.55),
    2000: (48.91, 18.66, 18.30, 0.039, 51.47),
}
