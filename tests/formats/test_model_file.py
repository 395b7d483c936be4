"""Model files (.rdsm): a passing checksum is not trusted; every field is validated against the model the
config describes, every size bounded before allocation, with one line naming the field."""
import json

import numpy as np
import pytest
from flax import serialization

from rdsweep import load
from rdsweep.codec import Codec
from rdsweep.errors import RdsweepError
from rdsweep.formats import model_file
from tests.conftest import forge, put, untrained_codec


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    codec = untrained_codec(latent_dims=12)
    path = tmp_path_factory.mktemp("m") / "m.rdsm"
    codec.save(path)
    return codec, path


def config_change(**kw):
    def change(state):
        state["config"] = json.dumps({**json.loads(state["config"]), **kw})
    return change


CASES = {
    "kernel shape": (put(["params", "analysis", "conv1", "kernel"], np.zeros((3, 3, 1, 20), np.float32)),
                     "params.analysis.conv1.kernel: expected float32 (5, 5, 1, 20), got float32 (3, 3, 1, 20)"),
    "kernel dtype": (put(["params", "analysis", "conv1", "kernel"], lambda a: a.astype(np.float64)),
                     "expected float32 (5, 5, 1, 20), got float64"),
    "kernel rank": (put(["params", "analysis", "conv1", "kernel"], lambda a: a.reshape(-1)), "got float32 (500,)"),
    "non-finite weight": (put(["params", "synthesis", "dense1", "bias"], lambda a: a * np.nan),
                          "params.synthesis.dense1.bias: holds non-finite values"),
    "missing collection": (lambda s: s["params"].pop("synthesis"), "params: expected ['analysis', 'synthesis']"),
    "weights not arrays": (put(["params", "analysis", "dense2", "bias"], 3), "expected an array, got int"),
    "tables of another size": (put(["entropy", "y", "counts"], lambda a: a[:-1]), "do not form R rows"),
    "fewer table rows": (lambda s: s["entropy"]["y"].update({k: v[:-1] for k, v in s["entropy"]["y"].items()}),
                         "11 table rows, but the model has 12 latent dimensions"),
    "non-finite offset": (put(["entropy", "y", "offset"], lambda a: a * np.inf), "offset must be"),
    "far table starts": (put(["entropy", "y", "lo"], lambda a: a + 2**40), "out of range"),
    "table sums": (put(["entropy", "y", "counts"], lambda a: a * 2), "sum to 2\\*\\*24"),
    "tables missing": (lambda s: s["entropy"].pop("y"), "no coding tables for 'y'"),
    "huge latent": (config_change(latent_dims=10**9), "latent_dims must be a whole number in 1..4096"),
    "huge image": (config_change(shape=[40000, 40000, 1]), "up to 4096"),
    "huge layer": (config_change(model={"name": "seed", "hidden": 10**9}), "model.hidden"),
    "unknown model": (config_change(model={"name": "nope"}), "unknown model 'nope'"),
    "unknown key": (config_change(model={"name": "seed", "depth": 3}), "unexpected keyword argument 'depth'"),
    "bad shape type": (config_change(shape="28x28"), "shape must be [height, width, channels]"),
    "lmbda a string": (config_change(lmbda="big"), "config lmbda must be float"),
    "config not a mapping": (lambda s: s.update(config="[1, 2]"), "config is not a mapping"),
    "config not JSON": (lambda s: s.update(config="{"), "malformed model file"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_intact_but_invalid_model_file_is_refused_naming_the_field(saved, tmp_path, case):
    change, message = CASES[case]
    bad = forge(saved[1], tmp_path / "bad.rdsm", change)
    with pytest.raises(RdsweepError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load(bad)


def test_a_valid_file_round_trips(saved):
    codec, path = saved
    other = load(path)
    assert other.fingerprint == codec.fingerprint and other.config == codec.config


def test_corruption_truncation_and_other_files(saved, tmp_path):
    raw = bytearray(saved[1].read_bytes())
    raw[-10] ^= 1
    (tmp_path / "flip.rdsm").write_bytes(bytes(raw))
    with pytest.raises(RdsweepError, match="checksum mismatch"):
        load(tmp_path / "flip.rdsm")
    (tmp_path / "short.rdsm").write_bytes(saved[1].read_bytes()[:20])
    with pytest.raises(RdsweepError, match="not an rdsweep model file"):
        load(tmp_path / "short.rdsm")
    with pytest.raises(RdsweepError, match="cannot read model"):
        load(tmp_path / "missing.rdsm")


def test_version_1_files_still_load(saved, tmp_path):
    """Format 1 (seed model, 28x28, tables under "codec"): decodes what the same weights and tables code."""
    codec = saved[0]
    state = {"config": json.dumps({"latent_dims": 12, "prior": "deep_factorized", "lmbda": 500.0,
                                   "distortion": "mae", "epochs": 1, "shape": [28, 28]}),
             "params": serialization.to_state_dict({k: codec.model.params[k] for k in ("analysis", "synthesis")}),
             "codec": codec.model.entropy["y"].to_arrays()}
    payload = serialization.msgpack_serialize(state)
    old = Codec.from_file(forge(None, tmp_path / "v1.rdsm", payload=payload, version=1))
    assert old.fingerprint == model_file.fingerprint(payload)
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1)).astype(np.uint8)
    np.testing.assert_array_equal(old.decompress(old.compress(images)), codec.decompress(codec.compress(images)))
