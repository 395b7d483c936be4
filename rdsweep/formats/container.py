"""The compressed file format (.rds): every digit of one file in one stream, framed and checksummed.

Version 4 (written; integers big-endian; the full specification is docs/formats.md):

| offset | size | field |
|---|---|---|
| 0 | 4 | magic `RDSW` |
| 4 | 1 | format version (4) |
| 5 | 16 | model fingerprint (first 16 bytes of the .rdsm payload's SHA-256) |
| 21 | 4 | digit count N |
| 25 | 2 + 2 + 1 | digit height, width, channels |
| 30 | 4 | payload length P in bytes |
| 34 | 4 | names length L in bytes (0: no names) |
| 38 | P | payload: the N digits' symbols, one ANS stream, entropy layer after layer, then END (`Codec.pack`) |
| 38+P | L | names: N times (u16 length, UTF-8 name) — the images' file names (``check_names``) |
| 38+P+L | 4 | CRC-32 of everything before |

The stream ends with a 16-bit end mark (``END``): an ANS stream decodes further symbols from its empty state
without complaint, so without it a forged digit count could decode extra, invented digits. Version 3 (still
read) is version 4 without the names; versions 1 and 2 also have no channels byte (one channel) and no end
mark; their payload is range coded (1) or ANS coded (2). Any corruption, truncation, wrong model, shape or
version raises RdsweepError before decoding.
"""
from __future__ import annotations

import struct
import zlib

from rdsweep.errors import RdsweepError
from rdsweep.files import open_regular

MAGIC = b"RDSW"
VERSION = 4
READABLE = (1, 2, 3, 4)
FIRST_EXACT = 3  # the first version with an end mark: versions before it cannot prove their digit count
MAX_DIGITS = 1 << 24
MAX_NAME = 255  # bytes of one name (a file name)
END = (0xA5C3, 1 << 16)  # (value, alphabet size) of the end mark
_HEADS = {1: struct.Struct(">4sB16sIHHI"), 2: struct.Struct(">4sB16sIHHI"), 3: struct.Struct(">4sB16sIHHBI"),
          4: struct.Struct(">4sB16sIHHBII")}
_CRC = struct.Struct(">I")
_LEN = struct.Struct(">H")
_HEAD_MAX = max(h.size for h in _HEADS.values())
MAX_FILE = _HEAD_MAX + 2 * ((1 << 32) - 1) + _CRC.size  # the largest file a header can describe


def check_names(names, n: int) -> list[str]:
    """n distinct file names, each 1..MAX_NAME bytes of UTF-8 without '/' or NUL, not '.' or '..'."""
    names = list(names)
    if len(names) != n or len(set(names)) != n:
        raise RdsweepError(f"image names: {n} distinct names needed, got {len(names)} ({len(set(names))} distinct)")
    for name in names:
        try:
            size = len(name.encode("utf-8"))
        except (UnicodeEncodeError, AttributeError):
            raise RdsweepError(f"image name {name!r} is not text that UTF-8 can hold") from None
        if not 1 <= size <= MAX_NAME or "/" in name or "\0" in name or name in (".", ".."):
            raise RdsweepError(f"image name {name[:40]!r} is not a file name (1..{MAX_NAME} bytes, no '/' or NUL)")
    return names


def _names_bytes(names) -> bytes:
    return b"".join(_LEN.pack(len(b)) + b for b in (name.encode("utf-8") for name in names))


def _names_of(block: bytes, n: int) -> list[str] | None:
    if not block:
        return None
    names, pos = [], 0
    try:
        for _ in range(n):
            (size,) = _LEN.unpack_from(block, pos)
            names.append(block[pos + 2: pos + 2 + size].decode("utf-8"))
            if len(names[-1].encode()) != size:
                raise ValueError("truncated")
            pos += 2 + size
    except (struct.error, ValueError):
        raise RdsweepError("corrupted file: malformed image names") from None
    if pos != len(block):
        raise RdsweepError("corrupted file: image names do not fill their block")
    return check_names(names, n)


def pack(payload: bytes, n: int, shape, fingerprint: bytes, names=None) -> bytes:
    """A version-4 file around ``payload`` (n digits of ``shape`` = (H, W, C)), with the images' names."""
    if n > MAX_DIGITS:
        raise RdsweepError(f"at most {MAX_DIGITS} digits per file, got {n}")
    block = b"" if names is None else _names_bytes(check_names(names, n))
    body = _HEADS[VERSION].pack(MAGIC, VERSION, fingerprint, n, *shape, len(payload), len(block)) + payload + block
    return body + _CRC.pack(zlib.crc32(body))


def _lengths(version: int, fields) -> tuple[int, int]:
    """(payload length, names length) a header declares."""
    return (fields[-2], fields[-1]) if version >= 4 else (fields[-1], 0)


def _frame(first: bytes, size: int):
    """(version, header struct, header fields) of a file of ``size`` bytes that starts with ``first``: the magic,
    the version and the lengths the header declares checked, nothing else read."""
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
    declared = head.size + sum(_lengths(version, fields)) + _CRC.size
    if size != declared:
        raise RdsweepError(f"truncated or padded file: {size} bytes, the header says {declared}")
    return version, head, fields


def read(path) -> bytes:
    """The bytes of an .rds file: a regular file (never a device or FIFO) whose framing and CRC are checked
    reading it in chunks, before it is held in memory (a corrupted large file costs no memory)."""
    with open_regular(path, MAX_FILE) as (f, size):
        try:
            version, head, fields = _frame(f.read(_HEAD_MAX), size)
            f.seek(0)
            crc, left = 0, size - _CRC.size
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


def describe(data: bytes) -> dict:
    """What a file's header says (framing and CRC checked; the payload is not decoded): version, count, shape,
    fingerprint, payload and names bytes, the names."""
    version, head, fields = _frame(data[:_HEAD_MAX], len(data))
    plen, nlen = _lengths(version, fields)
    (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(memoryview(data)[: len(data) - _CRC.size]) != crc:
        raise RdsweepError("corrupted file (checksum mismatch)")
    n = fields[3]
    names = _names_of(data[head.size + plen: head.size + plen + nlen], n) if nlen <= n * (2 + MAX_NAME) else None
    return {"version": version, "images": n, "shape": tuple(fields[4:7]) if version >= 3 else (*fields[4:6], 1),
            "fingerprint": fields[2], "payload_bytes": plen, "names_bytes": nlen, "names": names}


def unpack(data: bytes, fingerprint: bytes, shape) -> tuple[int, int, bytes, list | None]:
    """Check everything: (version, digit count, payload, the images' names or None)."""
    version, head, fields = _frame(data[:_HEAD_MAX], len(data))
    file_fp, n = fields[2], fields[3]
    plen, nlen = _lengths(version, fields)
    file_shape = tuple(fields[4:7]) if version >= 3 else (*fields[4:6], 1)
    (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(memoryview(data)[: len(data) - _CRC.size]) != crc:
        raise RdsweepError("corrupted file (checksum mismatch)")
    if file_fp != fingerprint:
        raise RdsweepError(f"file was made with another model (fingerprint {file_fp.hex()}, "
                           f"this model is {fingerprint.hex()})")
    if file_shape != tuple(shape) or n > MAX_DIGITS:
        raise RdsweepError(f"file holds {n} digits of {'x'.join(map(str, file_shape))}; this model codes "
                           f"{'x'.join(map(str, shape))} digits")
    if nlen > n * (2 + MAX_NAME):
        raise RdsweepError(f"corrupted file: {nlen} bytes of names for {n} images")
    names = _names_of(data[head.size + plen: head.size + plen + nlen], n)
    return version, n, data[head.size: head.size + plen], names
