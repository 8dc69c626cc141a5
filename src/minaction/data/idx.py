"""The IDX file format of MNIST and Fashion-MNIST: read and write, gzipped or plain.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the array in C order, big-endian.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from minaction.errors import DataIntegrityError

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder(">"): code for code, dtype in _TYPES.items()}


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzipped (by magic bytes, not by name)."""
    raw = Path(path).read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataIntegrityError(
            f"{path} is a damaged gzip file ({err}); delete it and fetch it again"
        ) from None


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into an array, checking that the payload matches the header."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise DataIntegrityError(f"{source} is not an IDX file (bad magic number {data[:4]!r})")
    dtype = _TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataIntegrityError(f"{source}: IDX header is truncated")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        raise DataIntegrityError(
            f"{source}: IDX header promises {expected} bytes of data for shape {shape}, "
            f"found {actual} (the file is truncated or corrupt); delete it and fetch it again"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: Path) -> np.ndarray:
    return parse_idx(read_bytes(path), source=str(path))


def write_idx(path: Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write `array` as IDX; gzipped when `compress` is true or the name ends in .gz."""
    array = np.asarray(array)
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if big not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, _CODES[big], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(big).tobytes()
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(payload) if compress else payload)
