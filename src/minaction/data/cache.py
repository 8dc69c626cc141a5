"""A cache for derived data (emulated events, tokenized text, extracted beats) as .npz files.

    arrays = cached_arrays(ctx, "dvs-digits", params, content_key, build)

The file name is a hash of the parameters and of a key for the source content (a checksum of
the files or of the arrays they were derived from), so a change to either builds anew and the
second load with the same inputs only reads the file. Files are written to a temporary name and
renamed into place, so a crash never leaves a half file under the real name; a file that cannot
be read is named in a warning, deleted and built again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from minaction.data.download import CHUNK
from minaction.data.registry import DataContext

log = logging.getLogger(__name__)

# Bump when the layout of derived files changes, so old files are not read as new ones.
FORMAT_VERSION = 1


def array_digest(*arrays: np.ndarray) -> str:
    """sha256 over the dtype, shape and bytes of each array."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def files_digest(paths: Iterable[Path]) -> str:
    """sha256 over the names and contents of the files, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
    return digest.hexdigest()


def derived_path(ctx: DataContext, dataset: str, params: dict, content_key: str) -> Path:
    canonical = json.dumps(
        {"format": FORMAT_VERSION, "params": params, "content": content_key},
        sort_keys=True,
        default=str,
    )
    key = hashlib.sha256(canonical.encode()).hexdigest()[:20]
    return ctx.cache_dir / dataset / "derived" / f"{key}.npz"


def cached_arrays(
    ctx: DataContext,
    dataset: str,
    params: dict,
    content_key: str,
    build: Callable[[], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """The arrays `build()` returns, read from the cache when they were built before.

    `params` (JSON-serialisable) and `content_key` identify the result; `build` must be a pure
    function of them.
    """
    path = derived_path(ctx, dataset, params, content_key)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            log.info("read derived %s data from %s", dataset, path)
            return arrays
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            log.warning(
                "derived data file %s is corrupt (%s); deleting and rebuilding it", path, err
            )
            path.unlink(missing_ok=True)

    arrays = build()
    try:
        _write_atomically(path, arrays)
        log.info("wrote derived %s data to %s", dataset, path)
    except OSError as err:
        # NOTE: a read-only or full cache costs speed, not correctness: the data is still here.
        log.warning("could not write derived data to %s (%s); it will be built again", path, err)
    return arrays


def _write_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
