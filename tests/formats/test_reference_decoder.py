"""docs/formats.md is a complete spec: tests/reference_decoder.py, written from it alone (no rdsweep import),
decodes rdsweep's files as rdsweep does, for each of the four models (seed, hyperprior, meanscale, gained).

Symbols, names and the dequantized latents y_hat (bit for bit) must agree exactly. Images may differ by one
grey level in a few pixels: rdsweep runs the synthesis transform in float32 under XLA (transposed convolutions
in their sub-pixel form, its own summation order), the reference in float64 with numpy; both round x * 255
half to even, so they differ only where x * 255 lies within float32 rounding error (~1e-5 relative) of a
half-integer. We measured about 1 pixel in 10,000; MAX_MOVED allows 0.5% of the pixels, each moved by at most
1.
"""
import dataclasses
import hashlib
import json
import struct
import zlib

import jax
import numpy as np
import pytest
from flax import serialization

import rdsweep
from rdsweep.codec import Codec
from rdsweep.coding import messages
from rdsweep.coding.ans import AnsWriter
from rdsweep.entropy.conditional import MEAN_FRAC, ConditionalMeanGaussian
from rdsweep.errors import RdsweepError
from rdsweep.formats import container
from rdsweep.models import get
from tests import reference_decoder as ref
from tests.conftest import QUICK, forge, made_once, run_tool, run_train, seed_spec, untrained_codec

MAX_MOVED = 0.005  # fraction of pixels that may differ by one grey level (module doc)


def _setup(tmp_path_factory, codec=None, **kw):
    codec = codec or untrained_codec(**kw)
    path = tmp_path_factory.mktemp("model") / "model.rdsm"
    codec.save(path)
    return codec, rdsweep.load(path), ref.load_model(path)


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """(codec, the same codec loaded from its .rdsm by rdsweep, the reference decoder's model)."""
    return _setup(tmp_path_factory, latent_dims=16, prior="deep_factorized", model="seed")


@pytest.fixture(scope="module")
def hyper(tmp_path_factory):
    return _setup(tmp_path_factory, latent_dims=12, prior="laplace", model="hyperprior")


@pytest.fixture(scope="module")
def meanscale(tmp_path_factory):
    """An untrained mean-scale model whose hyper transforms are moved (as in tests/entropy/test_meanscale.py), so
    that digits have non-zero side symbols and the latents' tables and means vary from digit to digit and from
    latent to latent."""
    codec = untrained_codec(latent_dims=12, prior="laplace", model="meanscale")
    params, rng = codec.model.params, np.random.default_rng(8)
    ha, hs = params["hyper_analysis"], params["hyper_synthesis"]
    params["hyper_analysis"] = {**ha, "dense2": {**ha["dense2"], "kernel": ha["dense2"]["kernel"] * 50}}
    dense = [(np.asarray(hs[k]["kernel"]) + rng.normal(0, 0.02, hs[k]["kernel"].shape),
              np.asarray(hs[k]["bias"]) + rng.normal(0, 1.0, hs[k]["bias"].shape)) for k in ("dense1", "dense2")]
    codec.model.entropy["y"] = ConditionalMeanGaussian.build(dense, codec.model.entropy["side"].offset, 12, 0.11,
                                                             256.0, 64, 2.0**-8)
    return _setup(tmp_path_factory, codec)


GAINED_LMBDA = 750.0  # an operating point between two anchors, not one of code_at


@pytest.fixture(scope="module")
def gained(tmp_path_factory):
    """An untrained variable-rate model at one operating point, as ``rdsweep export --lmbda`` writes it: its gains
    moved off their initial powers of two (so that the decoder's float32 product with the inverse gains rounds)."""
    M = get("gained")
    spec = seed_spec(latent_dims=12)
    spec = type(spec)(dataclasses.asdict(M.Config()), spec.prior, 12, spec.shape)
    params = dict(M.init_params(spec, jax.random.key(0)))
    rng = np.random.default_rng(9)
    params["gains"] = {k: v + rng.normal(0, 0.3, v.shape).astype(np.float32) for k, v in params["gains"].items()}
    codec = Codec(M(spec, params, M.point(spec, params, 2.0**-8, GAINED_LMBDA)), {"lmbda": GAINED_LMBDA})
    return _setup(tmp_path_factory, codec)


def agree(loaded, model, data: bytes, expected: dict | None = None) -> dict:
    """The reference decoder gives rdsweep's symbols and names exactly, and its images within one grey level."""
    symbols, names, images = ref.decode(model, data)
    version, n, payload, want_names = container.unpack(data, loaded.fingerprint, loaded.shape)
    want = loaded.unpack(payload, n, version, legacy=True)
    assert list(symbols) == list(want)
    for name in want:
        assert symbols[name].dtype == np.int64
        np.testing.assert_array_equal(symbols[name], want[name], err_msg=name)
        if expected is not None:
            np.testing.assert_array_equal(symbols[name], expected[name], err_msg=name)
    y_hat, want_y = model.latents(symbols), loaded.model.dequantize(want)
    assert y_hat.dtype == want_y.dtype == np.float32  # exact: the same float32 bits (docs/formats.md §7)
    np.testing.assert_array_equal(y_hat.view(np.uint32), want_y.view(np.uint32))
    want_images, rd_names = loaded.decompress_named(data, legacy=True)
    assert names == want_names == rd_names
    assert images.dtype == np.uint8 and images.shape == want_images.shape == (n, *loaded.shape)
    moved = np.abs(images.astype(np.int16) - want_images.astype(np.int16))
    assert moved.max(initial=0) <= 1
    assert np.count_nonzero(moved) <= MAX_MOVED * moved.size, f"{np.count_nonzero(moved)} pixels moved by 1"
    return symbols


def frame(payload: bytes, n: int, shape, fingerprint: bytes, version: int) -> bytes:
    """An .rds file of an older version around a payload (docs/formats.md §2.1), CRC included."""
    h, w, c = shape
    if version < 3:
        head = struct.pack(">4sB16sIHHI", b"RDSW", version, fingerprint, n, h, w, len(payload))
    else:
        head = struct.pack(">4sB16sIHHBI", b"RDSW", version, fingerprint, n, h, w, c, len(payload))
    return head + payload + struct.pack(">I", zlib.crc32(head + payload))


def refresh_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack(">I", zlib.crc32(data[:-4]))


def extremes(tables, rows, rng, n: int, spread: int) -> np.ndarray:
    """n digits of symbols around 0 (+-spread) with values at and beyond every kind of table edge: the first and
    last bins, one past either edge (escape distance 1, no mantissa), and far escapes whose mantissa takes one
    chunk (<= 16 bits) or two (17..31 bits), up to the clamp 2**30."""
    q = rng.integers(-spread, spread + 1, (n, len(rows)))
    lo, top = tables.lo[rows], tables.lo[rows] + tables.K - 1
    picks = [lo, top, lo - 1, top + 1, top + 2, lo - 3, lo - (1 << 16), top + (1 << 16) - 1,
             top + (1 << 17) + 12345, lo - (1 << 20), np.full_like(lo, 1 << 30), np.full_like(lo, -(1 << 30))]
    for i, p in enumerate(picks):
        d = i % len(rows)
        q[i % n, d] = p[d]
    return q


def refused(error, fn, *args) -> bool:
    try:
        fn(*args)
    except error:
        return True
    return False


def test_seed_model_on_real_digits(seed, test_digits):
    codec, loaded, model = seed
    images = test_digits[:40]
    agree(loaded, model, codec.compress(images), codec.encode(images))


def test_seed_model_with_escapes_in_every_version(seed):
    """Symbols chosen through the codec API: wide values (non-trivial images) and escapes of every size."""
    codec, loaded, model = seed
    tables = codec.model.entropy["y"].tables
    symbols = {"y": extremes(tables, np.arange(tables.rows), np.random.default_rng(1), 12, 40)}
    assert codec.model.entropy["y"].escapes(symbols["y"]).sum() >= 10
    for version in (1, 2, 3):
        agree(loaded, model, frame(codec.pack(symbols, version), 12, codec.shape, codec.fingerprint, version), symbols)
    agree(loaded, model, container.pack(codec.pack(symbols), 12, codec.shape, codec.fingerprint), symbols)


def test_hyperprior_with_escapes_in_both_layers(hyper):
    """Side symbols far outside their tables (beyond the network's input clip 2**15 too), so that the table
    indexes of y span the scale table, and y symbols outside the widest table."""
    codec, loaded, model = hyper
    rng = np.random.default_rng(2)
    side_tables, y_tables = codec.model.entropy["side"].tables, codec.model.entropy["y"].tables
    side = extremes(side_tables, np.arange(side_tables.rows), rng, 16, 300)
    side[3] = [(1 << 15) + 1, -(1 << 15) - 1, 1 << 15, -(1 << 15), 0, 5, -5, 1][: side.shape[1]]
    side[4] = 0
    y = extremes(y_tables, np.zeros(12, np.int64), rng, 16, 100)
    symbols = {"side": side, "y": y}
    rows = codec.model.context("y", symbols)
    assert len(np.unique(rows)) >= 10  # the grouped order of many tables is exercised
    assert codec.model.entropy["side"].escapes(side).sum() >= 10
    assert codec.model.entropy["y"].escapes(y, rows).sum() >= 4
    agree(loaded, model, frame(codec.pack(symbols, 3), 16, codec.shape, codec.fingerprint, 3), symbols)
    for version in (1, 2):  # never written for this model: both refuse (docs/formats.md §2.3)
        old = frame(codec.pack(symbols, version), 16, codec.shape, codec.fingerprint, version)
        assert refused(ref.FormatError, ref.decode, model, old) and refused(RdsweepError, loaded.decompress, old, True)
    data = container.pack(codec.pack(symbols), 16, codec.shape, codec.fingerprint)
    decoded = agree(loaded, model, data, symbols)
    np.testing.assert_array_equal(model.layers[1][1].context(decoded["side"]), rows)  # integer network: exact


def test_hyperprior_compressing_images(hyper):
    codec, loaded, model = hyper
    images = np.random.default_rng(3).integers(0, 256, (8, *codec.shape), dtype=np.uint8)
    agree(loaded, model, codec.compress(images), codec.encode(images))


def test_fully_convolutional_hyperprior(tmp_path_factory, test_digits):
    """model.hidden=0 (§6.2: no dense layers, y_hat is the first deconvolution's input) through a model file."""
    M, base = get("hyperprior"), seed_spec()
    spec = type(base)({**dataclasses.asdict(M.Config()), "filters": [4, 2], "hidden": 0}, base.prior, 98, base.shape)
    params = M.init_params(spec, jax.random.key(5))
    codec, loaded, model = _setup(tmp_path_factory, Codec(M(spec, params, M.entropy_from_training(spec, params,
                                                                                              2.0**-8)), {"lmbda": 500.0}))
    assert "dense1" not in model.params["synthesis"]
    images = test_digits[:20]
    agree(loaded, model, codec.compress(images), codec.encode(images))


def test_names(seed):
    codec, loaded, model = seed
    images = np.random.default_rng(4).integers(0, 256, (5, *codec.shape), dtype=np.uint8)
    names = ["0.png", "zwölf.png", "x" * 255, "a b.pgm", "日本.png"]
    data = codec.compress(images, names=names)
    assert data[4] == 4 and struct.unpack_from(">I", data, 34)[0] > 0
    agree(loaded, model, data)
    assert ref.decode(model, data)[1] == names


def test_a_single_image(hyper):
    codec, loaded, model = hyper
    image = np.random.default_rng(5).integers(0, 256, (1, *codec.shape), dtype=np.uint8)
    symbols = agree(loaded, model, codec.compress(image), codec.encode(image))
    assert all(len(s) == 1 for s in symbols.values())
    assert ref.decode(model, codec.compress(image, names=["only.png"]))[1] == ["only.png"]


def test_a_version_1_model_file(seed, tmp_path):
    """Model format 1 (§1.4): the seed model's tables under "codec", prior a plain string, shape [H, W]."""
    codec = seed[0]
    config = {"latent_dims": 16, "prior": "deep_factorized", "lmbda": 500.0, "shape": [28, 28]}
    payload = serialization.msgpack_serialize({
        "config": json.dumps(config), "codec": codec.model.entropy["y"].to_arrays(),
        "params": serialization.to_state_dict({k: codec.model.params[k] for k in ("analysis", "synthesis")})})
    path = tmp_path / "v1.rdsm"
    path.write_bytes(b"RDSM" + struct.pack(">H", 1) + hashlib.sha256(payload).digest() + payload)
    old, model = rdsweep.load(path), ref.load_model(path)
    assert model.fingerprint == old.fingerprint and model.shape == (28, 28, 1)
    tables = codec.model.entropy["y"].tables
    symbols = {"y": extremes(tables, np.arange(tables.rows), np.random.default_rng(7), 12, 40)}
    agree(old, model, container.pack(old.pack(symbols), 12, old.shape, old.fingerprint), symbols)


def test_forgeries_are_refused_by_both(seed):
    """A wrong end mark, a forged digit count, a payload without its end mark, a bad CRC: the reference decoder
    refuses each (docs/formats.md §5.3), as rdsweep does."""
    codec, loaded, model = seed
    images = np.random.default_rng(6).integers(0, 256, (6, *codec.shape), dtype=np.uint8)
    symbols = codec.encode(images)
    w = AnsWriter()
    messages.write(codec.model.layers(), symbols, [w] * 6, codec.model.context)
    w.uniform(container.END[0] ^ 1, container.END[1])  # one bit off
    forged = {"wrong end mark": container.pack(w.finish(), 6, codec.shape, codec.fingerprint),
              "no end mark": container.pack(codec.pack(symbols, 2), 6, codec.shape, codec.fingerprint)}
    good = codec.compress(images)
    for n in (5, 7, 8):
        forged[f"count {n}"] = refresh_crc(good[:21] + struct.pack(">I", n) + good[25:])
    forged["bad crc"] = good[:-1] + bytes([good[-1] ^ 1])
    forged["padded payload"] = container.pack(codec.pack(symbols) + b"\1", 6, codec.shape, codec.fingerprint)
    assert [what for what, data in forged.items() if not refused(ref.FormatError, ref.decode, model, data)] == []
    assert [what for what, data in forged.items() if not refused(RdsweepError, loaded.decompress, data)] == []
    # a payload ending in a zero 32-bit word: no ANS coder writes one (§3.3); both refuse it
    zero = container.pack(codec.pack(symbols) + b"\0" * 4, 6, codec.shape, codec.fingerprint)
    assert refused(ref.FormatError, ref.decode, model, zero) and refused(RdsweepError, loaded.decompress, zero)
    assert ref.decode(model, good)[0]["y"].shape == (6, 16)


def test_meanscale_with_escapes_in_both_layers(meanscale):
    """Side symbols far outside their tables and beyond the network's input clip; y symbols (around the means)
    at and beyond every table edge. The tables and the means (on their grid of 2**-8) agree exactly."""
    codec, loaded, model = meanscale
    rng = np.random.default_rng(10)
    side_tables, y_tables = codec.model.entropy["side"].tables, codec.model.entropy["y"].tables
    side = extremes(side_tables, np.arange(side_tables.rows), rng, 16, 300)
    side[3] = [(1 << 15) + 1, -(1 << 15) - 1, 1 << 15, -(1 << 15), 0, 5, -5, 1]
    side[4] = 0
    y = extremes(y_tables, np.zeros(12, np.int64), rng, 16, 100)
    symbols = {"side": side, "y": y}
    rows, means = codec.model.context("y", symbols), codec.model.entropy["y"].means(side)
    assert len(np.unique(rows)) >= 10 and len(np.unique(means)) >= 100
    assert np.count_nonzero(means != np.round(means)) >= 100  # fractional means: the grid is exercised
    assert codec.model.entropy["side"].escapes(side).sum() >= 10
    assert codec.model.entropy["y"].escapes(y, rows).sum() >= 4
    layer = model.layers[1][1]
    assert isinstance(layer, ref.ConditionalMean) and layer.dims == 12 and layer.net[-1][0].shape == (64, 24)
    agree(loaded, model, frame(codec.pack(symbols, 3), 16, codec.shape, codec.fingerprint, 3), symbols)
    for version in (1, 2):  # never written for this model: both refuse (docs/formats.md §2.3)
        old = frame(codec.pack(symbols, version), 16, codec.shape, codec.fingerprint, version)
        assert refused(ref.FormatError, ref.decode, model, old) and refused(RdsweepError, loaded.decompress, old, True)
    decoded = agree(loaded, model, container.pack(codec.pack(symbols), 16, codec.shape, codec.fingerprint), symbols)
    np.testing.assert_array_equal(layer.context(decoded["side"]), rows)  # integer network: exact
    np.testing.assert_array_equal(layer.means(decoded["side"]), means)
    assert np.all(means * 2**MEAN_FRAC == np.round(means * 2**MEAN_FRAC))


def test_meanscale_compressing_digits(meanscale, test_digits):
    codec, loaded, model = meanscale
    images = np.concatenate([test_digits[:30], np.random.default_rng(11).integers(0, 256, (6, *codec.shape),
                                                                                   dtype=np.uint8)])
    symbols = codec.encode(images)
    means, rows = codec.model.entropy["y"].means(symbols["side"]), codec.model.context("y", symbols)
    assert len(np.unique(means)) >= 100 and len(np.unique(rows)) >= 3
    agree(loaded, model, codec.compress(images, names=[f"{i}.png" for i in range(36)]), symbols)


def test_gained_operating_point(gained, test_digits):
    """The exported point's gains are read as stored; its symbols, escapes included, and images agree."""
    codec, loaded, model = gained
    layer, entropy = model.layers[0][1], codec.model.entropy["y"]
    assert model.name == "gained" and isinstance(layer, ref.Gained) and model.config["lmbda"] == GAINED_LMBDA
    for name in ("gain", "inverse", "offset"):
        np.testing.assert_array_equal(getattr(layer, name).view(np.uint32), getattr(entropy, name).view(np.uint32))
    assert len(np.unique(layer.inverse)) == 12 and not np.any(np.log2(layer.inverse) % 1 == 0)  # no powers of 2
    tables = entropy.tables
    symbols = {"y": extremes(tables, np.arange(tables.rows), np.random.default_rng(12), 12, 40)}
    assert entropy.escapes(symbols["y"]).sum() >= 10
    agree(loaded, model, frame(codec.pack(symbols, 3), 12, codec.shape, codec.fingerprint, 3), symbols)
    agree(loaded, model, container.pack(codec.pack(symbols), 12, codec.shape, codec.fingerprint), symbols)
    old = frame(codec.pack(symbols, 2), 12, codec.shape, codec.fingerprint, 2)  # versions 1, 2: seed model only
    assert refused(ref.FormatError, ref.decode, model, old) and refused(RdsweepError, loaded.decompress, old, True)
    images = test_digits[:40]
    agree(loaded, model, codec.compress(images), codec.encode(images))


def test_invalid_meanscale_and_gained_model_files_are_refused_by_both(meanscale, gained, tmp_path):
    """Intact (re-hashed) but invalid model files: the reference refuses each, as rdsweep does (§1.6)."""
    def drop_means(state):
        y = state["entropy"]["y"]
        y["w1"], y["b1"] = y["w1"][:, :12], y["b1"][:12]

    def zero_inverse(state):
        state["entropy"]["y"]["inverse"] = state["entropy"]["y"]["inverse"] * 0

    cases = {"meanscale network with D outputs": (meanscale, drop_means),
             "meanscale tables of num_scales - 1 rows": (meanscale, lambda s: s["entropy"]["y"].update(
                 lo=s["entropy"]["y"]["lo"][:-1], counts=s["entropy"]["y"]["counts"][:-1])),
             "gained without gains": (gained, lambda s: s["entropy"]["y"].pop("gain")),
             "gained zero inverse gains": (gained, zero_inverse),
             "gained with a side layer": (gained, lambda s: s["entropy"].update(side=s["entropy"]["y"]))}
    for i, (what, (fixture, change)) in enumerate(cases.items()):
        src = tmp_path / f"src{i}.rdsm"
        fixture[0].save(src)
        bad = forge(src, tmp_path / f"bad{i}.rdsm", change)
        assert refused(ref.FormatError, ref.load_model, bad), what
        assert refused(RdsweepError, rdsweep.load, bad), what


@pytest.fixture(scope="module", params=["meanscale", "gained"])
def exported_model(request, tmp_path_factory, mnist_dir):
    """A quick real training run of the model (256 digits, 1 epoch), exported by ``rdsweep export`` (the
    variable-rate model at GAINED_LMBDA, a point its run did not evaluate: tables built from its density)."""
    gained = request.param == "gained"
    with made_once(tmp_path_factory, f"formats-{request.param}") as (d, make):
        if make:
            extra = ["model.code_at=[1000]"] if gained else ["lmbda=2000"]
            r = run_train(f"model={request.param}", *extra, *QUICK, f"hydra.run.dir={d / 'run'}")
            assert r.returncode == 0, r.stderr
            r = run_tool("export", d / "run", *(["--lmbda", GAINED_LMBDA] if gained else []), "-o", d / "m.rdsm")
            assert r.returncode == 0, r.stderr
    return d / "m.rdsm"


@pytest.mark.slow
def test_trained_and_exported_models(exported_model, test_digits):
    loaded, model = rdsweep.load(exported_model), ref.load_model(exported_model)
    assert model.fingerprint == loaded.fingerprint and model.name == loaded.model.name
    if model.name == "gained":
        assert model.config["lmbda"] == GAINED_LMBDA
    images = test_digits[:200]
    agree(loaded, model, loaded.compress(images), loaded.encode(images))
