"""The compressed file format (.rds): every digit of one file in one stream, framed and checksummed.

Version 3 (written; integers big-endian):

| offset | size | field |
|---|---|---|
| 0 | 4 | magic `RDSW` |
| 4 | 1 | format version (3) |
| 5 | 16 | model fingerprint (first 16 bytes of the .rdsm payload's SHA-256) |
| 21 | 4 | digit count N |
| 25 | 2 + 2 + 1 | digit height, width, channels |
| 30 | 4 | payload length P in bytes |
| 34 | P | payload: the N digits' symbols, one ANS stream, entropy layer after layer, then END (`Codec.pack`) |
| 34+P | 4 | CRC-32 of everything before |

The stream ends with a 16-bit end mark (``END``): an ANS stream decodes further symbols from its empty state
without complaint, so without it a forged digit count could decode extra, invented digits. Versions 1 and 2
(still read) have no channels byte (one channel) and no end mark; their payload is range coded (1) or ANS
coded (2). Any corruption, truncation, wrong model, shape or version raises RdsweepError before decoding.
"""
from __future__ import annotations

import struct
import zlib

from rdsweep.errors import RdsweepError

MAGIC = b"RDSW"
VERSION = 3
READABLE = (1, 2, 3)
MAX_DIGITS = 1 << 24
END = (0xA5C3, 1 << 16)  # (value, alphabet size) of the end mark
_HEADS = {1: struct.Struct(">4sB16sIHHI"), 2: struct.Struct(">4sB16sIHHI"), 3: struct.Struct(">4sB16sIHHBI")}
_CRC = struct.Struct(">I")


def pack(payload: bytes, n: int, shape, fingerprint: bytes) -> bytes:
    """A version-3 file around ``payload`` (n digits of ``shape`` = (H, W, C))."""
    if n > MAX_DIGITS:
        raise RdsweepError(f"at most {MAX_DIGITS} digits per file, got {n}")
    body = _HEADS[VERSION].pack(MAGIC, VERSION, fingerprint, n, *shape, len(payload)) + payload
    return body + _CRC.pack(zlib.crc32(body))


def unpack(data: bytes, fingerprint: bytes, shape) -> tuple[int, int, bytes]:
    """Check everything: (version, digit count, payload)."""
    if len(data) < 5 or data[:4] != MAGIC:
        raise RdsweepError("not an rdsweep compressed file (bad magic)")
    version = data[4]
    if version not in READABLE:
        raise RdsweepError(f"format version {version} is not supported (this reads versions "
                           f"{', '.join(map(str, READABLE))})")
    head = _HEADS[version]
    if len(data) < head.size + _CRC.size:
        raise RdsweepError(f"truncated file ({len(data)} bytes, the header alone is {head.size + _CRC.size})")
    fields = head.unpack_from(data)
    file_fp, n, plen = fields[2], fields[3], fields[-1]
    file_shape = tuple(fields[4:-1]) + ((1,) if version < 3 else ())
    if len(data) != head.size + plen + _CRC.size:
        raise RdsweepError(f"truncated or padded file: {len(data)} bytes, the header says {head.size + plen + 4}")
    (crc,) = _CRC.unpack_from(data, head.size + plen)
    if zlib.crc32(data[: head.size + plen]) != crc:
        raise RdsweepError("corrupted file (checksum mismatch)")
    if file_fp != fingerprint:
        raise RdsweepError(f"file was made with another model (fingerprint {file_fp.hex()}, "
                           f"this model is {fingerprint.hex()})")
    if file_shape != tuple(shape) or n > MAX_DIGITS:
        raise RdsweepError(f"file holds {n} digits of {'x'.join(map(str, file_shape))}; this model codes "
                           f"{'x'.join(map(str, shape))} digits")
    return version, n, data[head.size: head.size + plen]
