"""The compressed file format (.rds): every digit of one file in one ANS-coded stream.

| offset | size | field |
|---|---|---|
| 0 | 4 | magic `RDSW` |
| 4 | 1 | format version (2; version 1 files, range coded, still decode) |
| 5 | 16 | model fingerprint (first 16 bytes of the .rdsm payload's SHA-256) |
| 21 | 4 | digit count N (u32, big-endian) |
| 25 | 2 + 2 | digit height, width (u16 each) |
| 29 | 4 | payload length P in bytes (u32) |
| 33 | P | payload: the N digits' latent symbols, one ANS stream (`FactorizedCodec.encode_stream`) |
| 33+P | 4 | CRC-32 of bytes 0 .. 33+P-1 (u32) |

Any corruption, truncation, wrong model or wrong version raises RdsweepError before anything is decoded.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from rdsweep.codec import FactorizedCodec
from rdsweep.errors import RdsweepError

MAGIC = b"RDSW"
VERSION = 2
READABLE = (1, 2)  # 1: the payload was one range-coded stream
MAX_DIGITS = 1 << 24
_HEAD = struct.Struct(">4sB16sIHHI")
_CRC = struct.Struct(">I")


def pack(symbols: np.ndarray, codec: FactorizedCodec, fingerprint: bytes, shape=(28, 28)) -> bytes:
    n = len(symbols)
    if n > MAX_DIGITS:
        raise RdsweepError(f"at most {MAX_DIGITS} digits per file, got {n}")
    payload = codec.encode_stream(symbols)
    body = _HEAD.pack(MAGIC, VERSION, fingerprint, n, *shape, len(payload)) + payload
    return body + _CRC.pack(zlib.crc32(body))


def unpack(data: bytes, codec: FactorizedCodec, fingerprint: bytes, shape=(28, 28)) -> np.ndarray:
    """Check everything, then decode: the symbols (N, D)."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise RdsweepError("not an rdsweep compressed file (bad magic)")
    if len(data) < _HEAD.size + _CRC.size:
        raise RdsweepError(f"truncated file ({len(data)} bytes, the header alone is {_HEAD.size + 4})")
    _, version, file_fp, n, h, w, plen = _HEAD.unpack_from(data)
    if version not in READABLE:
        raise RdsweepError(f"format version {version} is not supported (this reads versions 1 and {VERSION})")
    if len(data) != _HEAD.size + plen + _CRC.size:
        raise RdsweepError(f"truncated or padded file: {len(data)} bytes, the header says {_HEAD.size + plen + 4}")
    (crc,) = _CRC.unpack_from(data, _HEAD.size + plen)
    if zlib.crc32(data[: _HEAD.size + plen]) != crc:
        raise RdsweepError("corrupted file (checksum mismatch)")
    if file_fp != fingerprint:
        raise RdsweepError(f"file was made with another model (fingerprint {file_fp.hex()}, "
                           f"this model is {fingerprint.hex()})")
    if (h, w) != tuple(shape) or n > MAX_DIGITS:
        raise RdsweepError(f"file holds {n} digits of {h}x{w}; this model codes {shape[0]}x{shape[1]} digits")
    payload = data[_HEAD.size: _HEAD.size + plen]
    return codec.decode_stream(payload, n) if version == 2 else codec.decode_range_stream(payload, n)
