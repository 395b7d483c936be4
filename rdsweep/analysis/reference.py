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

# NERD: Lei, Hassani, Saeedi Bidokhti, "Neural Estimation of the Rate-Distortion Function with Applications to
# Operational Source Coding", IEEE JSAIT 2022; code github.com/leieric/NERD-RCC, notebook
# plotRDcurves_release.ipynb (MNIST cell, commit 51ea04ef). An estimate of R(D) of the MNIST training images
# bilinearly resized to 32x32, pixels in [0, 1], D = summed squared error per image, R in bits per image (its
# top two points are capped by the 40,000 generator samples it uses: log2(40000) = 15.3 bits).
# (rate bits/image, D = SSE per 32x32 image)
NERD = [(0.580, 52.701), (2.873, 39.656), (4.932, 31.234), (6.538, 26.185), (7.779, 23.136), (9.612, 19.480),
        (10.821, 17.549), (13.235, 15.136), (14.360, 14.598), (15.123, 14.457)]
NERD_LABEL = "NERD R(D) estimate (Lei et al. 2022)"


def nerd_psnr(sse: float) -> float:
    """NERD's distortion as the PSNR of the mean MSE of 28x28 digits: 10 log10(784 / D), reading its summed
    squared error over the resized 32x32 image as the 28x28 one's (the two differ by about +-0.5 dB at these
    rates: bilinear resizing damps high frequencies; dividing by 1024 pixels instead would read 1.2 dB high)."""
    import math

    return 10 * math.log10(784 / sse)
