"""Downloads into the cache: checksummed, written atomically, resumed and retried.

A file is streamed to `<name>.part` beside its destination, resumed from there with an HTTP range
request after an interruption, verified against its checksum, and only then renamed into place,
so the cache never holds a half file under the real name.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from minaction.errors import DataIntegrityError, DatasetUnavailableError

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """`$MINACTION_CACHE`, else `$XDG_CACHE_HOME/minaction`, else `~/.cache/minaction`."""
    if os.environ.get("MINACTION_CACHE"):
        return Path(os.environ["MINACTION_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minaction"


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path, checksum: str) -> None:
    """Raise DataIntegrityError unless `path` matches `checksum` ("md5:..." or "sha256:...")."""
    algorithm, _, expected = checksum.partition(":")
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise DataIntegrityError(
            f"{path} fails its {algorithm} checksum (expected {expected}, got {actual}): "
            "the file is corrupt or partial; delete it and fetch it again"
        )


def download(
    url: str,
    dest: Path,
    checksum: str | None,
    retries: int = 3,
    timeout: float = 30.0,
    backoff: float = 1.0,
) -> Path:
    """Fetch `url` to `dest` unless a verified copy is already there.

    Raises:
        DatasetUnavailableError: every attempt failed (no network, server error).
        DataIntegrityError: the download completed but does not match `checksum`.
    """
    dest = Path(dest)
    if dest.exists():
        if checksum:
            verify_checksum(dest, checksum)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            _fetch_into(url, part, timeout)
            last_error = None
            break
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            last_error = err
            if _is_unreachable(err) or _is_refused(err):
                break  # no network, unknown host, or the server refuses: retrying cannot help
            log.warning("download of %s failed (attempt %d/%d): %s", url, attempt, retries, err)
            if attempt < retries:
                time.sleep(backoff * attempt)
    if last_error is not None:
        kept = f"; {part} is kept and the next attempt resumes from it" if part.exists() else ""
        raise DatasetUnavailableError(f"could not download {url}: {_reason(last_error)}{kept}")
    if checksum:
        try:
            verify_checksum(part, checksum)
        except DataIntegrityError:
            part.unlink(missing_ok=True)
            raise
    os.replace(part, dest)
    return dest


def _reason(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    return str(err.reason) if isinstance(err, urllib.error.URLError) else str(err)


def _is_unreachable(err: Exception) -> bool:
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    return isinstance(reason, socket.gaierror) or (
        isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
    )


def _is_refused(err: Exception) -> bool:
    """A client error such as 404 or 403; a timeout (408) or a rate limit (429) may pass."""
    if not isinstance(err, urllib.error.HTTPError):
        return False
    return 400 <= err.code < 500 and err.code not in (408, 429)


def _fetch_into(url: str, part: Path, timeout: float) -> None:
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "minaction"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
        log.info("resuming %s from byte %d of %s", url, offset, part)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if offset and err.code == 416:
            # Nothing left past the end of the part file: it is whole; the checksum decides.
            return
        raise
    with response:
        # A server that ignores the range answers 200 with the whole file: start over.
        mode = "ab" if offset and response.status == 206 else "wb"
        with open(part, mode) as handle:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                handle.write(chunk)
