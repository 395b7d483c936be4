"""The published and re-run numbers our results are compared with.

The report: Yanis Gomes, "Learned Data Compression using MNIST dataset" (in French), student report, École
Normale Supérieure Paris-Saclay, 1 May 2024. It re-does the MNIST tutorial of TensorFlow Compression ("Learned
data compression", tensorflow.org/tutorials/generative/data_compression) with a latent of 50 and prints its
Table 1 after 5 epochs. Its PSNR column is computed on uint8 arrays whose squared differences wrap modulo 256
(see ``psnr_report_formula`` in rdsweep.experiment.evaluate), so only its rates compare with ours directly.

The TFC re-run: that tutorial's exact model (logistic prior, MAE, Adam 1e-3, batch 128, 5 epochs on the 60,000
training digits) run by rdsweep's developers with TensorFlow 2.14 and tensorflow-compression 2.14.1
(benchmarks/tfc_peer.py), evaluated on the 10,000 test digits like our runs.
"""

REPORT = "Gomes 2024, Table 1"
RERUN = "TFC tutorial re-run (TF 2.14)"

# Table 1 of the report (5 epochs, latent 50): lambda -> (rate bits/digit, PSNR dB by its own formula)
REPORT_TABLE1 = {300: (12.84, 18.37), 500: (18.85, 22.72), 1000: (30.128, 26.81), 2000: (49.27, 34.5)}

# the TFC re-run: lambda -> (rate bits/digit, mean per-digit PSNR dB, PSNR of mean MSE dB, MAE, string bits)
REFERENCE_RERUN = {
    300: (11.45, 11.93, 11.55, 0.102, 13.17),
    500: (17.31, 13.58, 13.20, 0.082, 20.12),
    1000: (31.99, 16.34, 15.92, 0.054, 34.55),
    2000: (48.91, 18.66, 18.30, 0.039, 51.47),
}
