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
from rdsweep.files import open_regular

MAGIC = b"RDSW"
VERSION = 3
READABLE = (1, 2, 3)
MAX_DIGITS = 1 << 24
END = (0xA5C3, 1 << 16)  # (value, alphabet size) of the end mark
_HEADS = {1: struct.Struct(">4sB16sIHHI"), 2: struct.Struct(">4sB16sIHHI"), 3: struct.Struct(">4sB16sIHHBI")}
_CRC = struct.Struct(">I")
_HEAD_MAX = max(h.size for h in _HEADS.values())
MAX_FILE = _HEAD_MAX + (1 << 32) - 1 + _CRC.size  # the largest file a header can describe


def pack(payload: bytes, n: int, shape, fingerprint: bytes) -> bytes:
    """A version-3 file around ``payload`` (n digits of ``shape`` = (H, W, C))."""
    if n > MAX_DIGITS:
        raise RdsweepError(f"at most {MAX_DIGITS} digits per file, got {n}")
    body = _HEADS[VERSION].pack(MAGIC, VERSION, fingerprint, n, *shape, len(payload)) + payload
    return body + _CRC.pack(zlib.crc32(body))


def _frame(first: bytes, size: int):
    """(version, header struct, header fields) of a file of ``size`` bytes that starts with ``first``: the magic,
    the version and the length the header declares checked, nothing else read."""
    if len(first) < 5 or first[:4] != MAGIC:
        raise RdsweepError("not an rdsweep compressed file (bad magic)")
    version = first[4]
    if version not in READABLE:
        raise RdsweepError(f"format version {version} is not supported (this reads versions "
                           f"{', '.join(map(str, READABLE))})")
    head = _HEADS[version]
    if size < head.size + _CRC.size:
        raise RdsweepError(f"truncated file ({size} bytes, the header alone is {head.size + _CRC.size})")
    fields = head.unpack_from(first)
    if size != head.size + fields[-1] + _CRC.size:
        raise RdsweepError(f"truncated or padded file: {size} bytes, the header says {head.size + fields[-1] + 4}")
    return version, head, fields


def read(path) -> bytes:
    """The bytes of an .rds file: a regular file (never a device or FIFO) whose framing and CRC are checked
    reading it in chunks, before it is held in memory (a corrupted large file costs no memory)."""
    with open_regular(path, MAX_FILE) as (f, size):
        try:
            _, head, fields = _frame(f.read(_HEAD_MAX), size)
            f.seek(0)
            crc, left = 0, head.size + fields[-1]
            while left > 0 and (chunk := f.read(min(left, 1 << 22))):
                crc, left = zlib.crc32(chunk, crc), left - len(chunk)
            if left or f.read(_CRC.size) != _CRC.pack(crc):
                raise RdsweepError("corrupted file (checksum mismatch)")
            f.seek(0)
            data = f.read(size + 1)
        except OSError as e:
            raise RdsweepError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) != size:
        raise RdsweepError(f"{path}: changed while being read")
    return data


def unpack(data: bytes, fingerprint: bytes, shape) -> tuple[int, int, bytes]:
    """Check everything: (version, digit count, payload)."""
    version, head, fields = _frame(data[:_HEAD_MAX], len(data))
    file_fp, n, plen = fields[2], fields[3], fields[-1]
    file_shape = tuple(fields[4:-1]) + ((1,) if version < 3 else ())
    (crc,) = _CRC.unpack_from(data, head.size + plen)
    if zlib.crc32(memoryview(data)[: head.size + plen]) != crc:
        raise RdsweepError("corrupted file (checksum mismatch)")
    if file_fp != fingerprint:
        raise RdsweepError(f"file was made with another model (fingerprint {file_fp.hex()}, "
                           f"this model is {fingerprint.hex()})")
    if file_shape != tuple(shape) or n > MAX_DIGITS:
        raise RdsweepError(f"file holds {n} digits of {'x'.join(map(str, file_shape))}; this model codes "
                           f"{'x'.join(map(str, shape))} digits")
    return version, n, data[head.size: head.size + plen]
