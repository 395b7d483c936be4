"""The reference for rdsweep's speed claims: the TensorFlow Compression MNIST tutorial model (TF 2.14 +
tensorflow-compression 2.14.1; same architecture, logistic prior, MAE, Adam 1e-3, batch 128), trained and
used as a codec on this machine. Run by benchmarks/compare.py in its own virtualenv; prints one JSON line.

    python tfc_peer.py DATA_DIR LAMBDA EPOCHS [TRAIN_LIMIT]

Training digits/s: the mean of the epochs after the first (the first one compiles). Encode: analysis +
range coding of the 10k test digits; decode: range decoding + synthesis.
"""
import gzip
import json
import sys
import time
from importlib.metadata import version

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def transforms(latent_dims):
    conv = dict(kernel_size=5, strides=2, padding="same", activation="leaky_relu")
    analysis = tf.keras.Sequential([
        tf.keras.layers.Conv2D(20, **conv), tf.keras.layers.Conv2D(50, **conv), tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(500, activation="leaky_relu"), tf.keras.layers.Dense(latent_dims)])
    synthesis = tf.keras.Sequential([
        tf.keras.layers.Dense(500, activation="leaky_relu"), tf.keras.layers.Dense(2450, activation="leaky_relu"),
        tf.keras.layers.Reshape((7, 7, 50)), tf.keras.layers.Conv2DTranspose(20, **conv),
        tf.keras.layers.Conv2DTranspose(1, **conv)])
    return analysis, synthesis


class Trainer(tf.keras.Model):
    def __init__(self, latent_dims):
        super().__init__()
        self.analysis_transform, self.synthesis_transform = transforms(latent_dims)
        self.prior_log_scales = tf.Variable(tf.zeros((latent_dims,)))

    @property
    def prior(self):
        return tfc.NoisyLogistic(loc=0.0, scale=tf.exp(self.prior_log_scales))

    def call(self, x, training):
        x = tf.reshape(tf.cast(x, self.compute_dtype) / 255.0, (-1, 28, 28, 1))
        y = self.analysis_transform(x)
        y_tilde, rate = tfc.ContinuousBatchedEntropyModel(self.prior, coding_rank=1, compression=False)(
            y, training=training)
        x_tilde = self.synthesis_transform(y_tilde)
        return dict(rate=tf.reduce_mean(rate), distortion=tf.reduce_mean(abs(x - x_tilde)))


def main():
    data, lmbda, epochs = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
    tf.random.set_seed(0)
    xtr = idx(f"{data}/train-images-idx3-ubyte.gz")[:limit]
    xte = idx(f"{data}/t10k-images-idx3-ubyte.gz")
    ds = tf.data.Dataset.from_tensor_slices(xtr).shuffle(len(xtr)).map(
        lambda x: (x, dict(rate=0.0, distortion=0.0))).batch(128).prefetch(8)
    trainer = Trainer(50)
    trainer.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss=dict(rate=lambda _, v: v, distortion=lambda _, v: v),
                    loss_weights=dict(rate=1.0, distortion=lmbda))
    epoch_s = []
    for _ in range(epochs):
        t = time.perf_counter()
        trainer.fit(ds, epochs=1, verbose=0)
        epoch_s.append(time.perf_counter() - t)
    steady = epoch_s[1:] or epoch_s
    em = tfc.ContinuousBatchedEntropyModel(trainer.prior, coding_rank=1, compression=True)
    x = tf.cast(xte, tf.float32)[..., None] / 255.0
    t = time.perf_counter()
    strings = em.compress(trainer.analysis_transform(x))
    t_enc = time.perf_counter() - t
    t = time.perf_counter()
    x_hat = trainer.synthesis_transform(em.decompress(strings, ()))
    rec = tf.saturate_cast(tf.round(x_hat * 255.0), tf.uint8).numpy()
    t_dec = time.perf_counter() - t
    mse = ((rec[..., 0].astype(np.float64) - xte) ** 2).reshape(len(xte), -1).mean(1)
    print(json.dumps(dict(
        peer=f"tensorflow {tf.__version__}, tensorflow-compression {version('tensorflow-compression')}", lmbda=lmbda, epochs=epochs,
        train_digits=len(xtr), train_digits_per_s=len(xtr) / (sum(steady) / len(steady)), epoch_s=epoch_s,
        string_bits=float(np.mean([8 * len(s) for s in strings.numpy()])),
        psnr_db=float(np.mean(10 * np.log10(255.0**2 / np.maximum(mse, 1e-10)))),
        compress_digits_per_s=len(xte) / t_enc, decompress_digits_per_s=len(xte) / t_dec)))


if __name__ == "__main__":
    main()
