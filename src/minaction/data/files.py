"""Finding a dataset's files: the user's data directory, then the cache, then a download.

    path = fetch(ctx, "cifar10", CIFAR_ARCHIVE, how="Download ... and pass --data-dir")

A file is looked for under its own name in `--data-dir` (the user's files are never silently
replaced by others: if that directory lacks one, loading stops there), then in
`<cache>/<dataset>/`, and is downloaded into the cache from its mirrors, in order. Whatever is
found is checked against the published checksum, so a corrupt or partial file is named, not used.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

from minaction.data.download import download, verify_checksum
from minaction.data.registry import DataContext, unavailable
from minaction.errors import DataIntegrityError, DatasetUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteFile:
    """One published file of a dataset.

    `name` is its name in a data directory and in the cache; `urls` are mirrors tried in order;
    `checksum` is "md5:<hex>" or "sha256:<hex>" of the file as published (None: unknown, the
    file's format checks are then all there is).
    """

    name: str
    urls: tuple[str, ...]
    checksum: str | None = None


def user_file(ctx: DataContext, name: str) -> Path | None:
    """`name` inside the user's data directory, or None when there is no such file."""
    if ctx.data_dir is None:
        return None
    path = ctx.data_dir / name
    return path if path.is_file() else None


def cached_file(ctx: DataContext, dataset: str, name: str) -> Path:
    return ctx.cache_dir / dataset / name


def is_present(ctx: DataContext, dataset: str, file: RemoteFile) -> bool:
    """The file is in the data directory or the cache (unverified: for availability listings)."""
    if ctx.data_dir is not None:
        return (ctx.data_dir / file.name).is_file()
    return cached_file(ctx, dataset, file.name).is_file()


def fetch(ctx: DataContext, dataset: str, file: RemoteFile, how: str) -> Path:
    """The verified local path of `file`, downloading it into the cache when it is not there.

    Raises:
        DatasetUnavailableError: not in the data directory or cache, and not downloadable; the
            message names what was tried and `how` to get it.
        DataIntegrityError: a copy exists but fails its checksum.
    """
    tried: list[str] = []
    if ctx.data_dir is not None:
        path = ctx.data_dir / file.name
        if path.is_file():
            if file.checksum:
                verify_checksum(path, file.checksum)
            return path
        tried.append(f"data directory {ctx.data_dir} (no {file.name})")
        raise unavailable(dataset, tried, how)

    dest = cached_file(ctx, dataset, file.name)
    if dest.is_file():
        if file.checksum:
            verify_checksum(dest, file.checksum)
        return dest
    tried.append(f"cache {dest.parent} (no {file.name})")
    if not ctx.download:
        raise unavailable(dataset, [*tried, "download (disabled)"], how)
    if not file.urls:
        raise unavailable(dataset, [*tried, "download (no address is known)"], how)
    for url in file.urls:
        try:
            log.info("downloading %s to %s", url, dest)
            return download(url, dest, file.checksum)
        except DatasetUnavailableError as err:
            tried.append(f"download ({err})")
    raise unavailable(dataset, tried, how)


def gunzip_file(src: Path, dest: Path) -> Path:
    """Decompress `src` into `dest`, written atomically (a `.part` file renamed into place)."""
    part = dest.with_name(dest.name + ".part")
    try:
        with gzip.open(src, "rb") as reader, open(part, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
    except (EOFError, OSError, zlib.error) as err:
        part.unlink(missing_ok=True)
        raise DataIntegrityError(
            f"{src} is a damaged gzip file ({err}); delete it and fetch it again"
        ) from None
    os.replace(part, dest)
    return dest
