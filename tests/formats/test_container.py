"""The .rds container: every truncation, bit flip and random file refused; old versions still decode."""
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdsweep.coding import messages
from rdsweep.coding.range import RangeWriter
from rdsweep.errors import RdsweepError
from rdsweep.formats import container
from tests.conftest import untrained_codec


@pytest.fixture(scope="module")
def codec():
    return untrained_codec(latent_dims=10)


@pytest.fixture(scope="module")
def valid(codec, test_digits):
    images = test_digits[:20]
    return images, codec.encode(images), codec.compress(images)


def test_valid_file_decodes_to_the_reconstruction(codec, valid):
    images, symbols, data = valid
    np.testing.assert_array_equal(codec.decompress(data), codec.decode(symbols))
    assert data[4] == container.VERSION


def test_every_truncation_is_a_clear_error(codec, valid):
    data = valid[2]
    for n in range(len(data)):
        with pytest.raises(RdsweepError):
            codec.decompress(data[:n])
    print(f"{len(data)} truncations: all refused")


def test_every_single_bit_flip_is_a_clear_error(codec, valid):
    data = valid[2]
    for i in range(8 * len(data)):
        bad = bytearray(data)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(RdsweepError):
            codec.decompress(bytes(bad))
    print(f"{8 * len(data)} single-bit flips: all refused")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_never_crash(codec, valid, blob, with_header):
    blob = (valid[2][:34] + blob) if with_header else blob
    with pytest.raises(RdsweepError):
        codec.decompress(blob)


def rewrite(data: bytes, version: int, payload: bytes | None = None, n: int | None = None) -> bytes:
    """A valid version-4 file without names rewritten as ``version`` (1 and 2 have no channels byte, 3 no
    names length), with another payload or digit count if given, its length and CRC made valid again (a forged
    but well-formed file)."""
    _, _, fp, count, h, w, c, plen, nlen = struct.unpack_from(">4sB16sIHHBII", data)
    assert nlen == 0
    payload = data[38:38 + plen] if payload is None else payload
    n = count if n is None else n
    head = struct.pack(">4sB16sIHHI", b"RDSW", version, fp, n, h, w, len(payload)) if version < 3 else \
        struct.pack(">4sB16sIHHBI", b"RDSW", version, fp, n, h, w, c, len(payload)) if version == 3 else \
        struct.pack(">4sB16sIHHBII", b"RDSW", version, fp, n, h, w, c, len(payload), 0)
    return head + payload + struct.pack(">I", zlib.crc32(head + payload))


def test_wrong_model_version_and_shape(codec, valid):
    data = valid[2]
    other = untrained_codec(latent_dims=10, seed=1)
    with pytest.raises(RdsweepError, match="another model"):
        other.decompress(data)
    with pytest.raises(RdsweepError, match="format version 5 is not supported"):
        codec.decompress(rewrite(data, 5))
    three = untrained_codec((28, 28, 3), latent_dims=10)
    with pytest.raises(RdsweepError, match="this model codes 28x28x3"):
        three.container_check = None
        container.unpack(data, codec.fingerprint, three.shape)


def test_version_3_still_decodes(codec, valid):
    _, symbols, data = valid
    np.testing.assert_array_equal(codec.decompress(rewrite(data, 3)), codec.decode(symbols))


def test_versions_1_and_2_decode_only_when_asked_and_only_for_the_seed_model(codec, valid):
    """Without an end mark a count raised by one can decode an invented digit: these files are read only on
    request (legacy), for the model they were written for."""
    _, symbols, data = valid
    w = RangeWriter()
    messages.write(codec.model.layers(), symbols, [w] * 20)
    v1 = rewrite(data, 1, w.finish())
    v2 = rewrite(data, 2, codec.pack(symbols, 2))
    assert codec.pack(symbols, 1) == w.finish()
    for old in (v1, v2):
        with pytest.raises(RdsweepError, match="cannot prove its digit count"):
            codec.decompress(old)
        np.testing.assert_array_equal(codec.decompress(old, legacy=True), codec.decode(symbols))
    with pytest.raises(RdsweepError, match="corrupted stream"):  # a v3 payload (end mark) is not a v2 one
        codec.decompress(rewrite(data, 2), legacy=True)
    with pytest.raises(RdsweepError, match="corrupted stream"):  # a v1 payload is not a v2 one
        codec.decompress(rewrite(data, 2, w.finish()), legacy=True)
    hyper = untrained_codec(latent_dims=10, model="hyperprior")
    forged = rewrite(hyper.compress(valid[0]), 2)
    with pytest.raises(RdsweepError, match="holds only seed-model 28x28 digits; this model is hyperprior"):
        hyper.decompress(forged, legacy=True)


def test_a_forged_digit_count_is_refused_before_decoding(codec, valid):
    """A well-formed file claiming 2**24 digits in 30 bytes: refused at once, nothing allocated."""
    with pytest.raises(RdsweepError, match="cannot fit"):
        codec.decompress(rewrite(valid[2], 3, n=2**24))
    for version in (3, 4):
        for n in (19, 21, 22):  # plausible counts: the end mark gives them away
            with pytest.raises(RdsweepError, match="corrupted stream"):
                codec.decompress(rewrite(valid[2], version, n=n))
    with pytest.raises(RdsweepError, match="holds no images"):
        codec.decompress(rewrite(valid[2], 4, n=0))
