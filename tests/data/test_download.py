"""Downloads from a local HTTP server: verified, atomic, resumed, and clear when they fail."""

from __future__ import annotations

import hashlib

import pytest

from minaction.data import load_dataset
from minaction.data.download import download
from minaction.data.files import RemoteFile, fetch
from minaction.errors import DataIntegrityError, DatasetUnavailableError

CONTENT = bytes(range(256)) * 400  # 100 kB, more than one read chunk of the server


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def test_good_download_lands_under_its_name(tmp_path, local_server):
    local_server.files["file.bin"] = CONTENT
    dest = tmp_path / "cache" / "file.bin"

    path = download(local_server.url + "file.bin", dest, md5(CONTENT))

    assert path == dest and dest.read_bytes() == CONTENT
    assert not dest.with_name("file.bin.part").exists()


def test_checksum_mismatch_is_named_and_leaves_nothing(tmp_path, local_server):
    local_server.files["file.bin"] = CONTENT
    dest = tmp_path / "file.bin"

    with pytest.raises(DataIntegrityError, match="fails its md5 checksum") as caught:
        download(local_server.url + "file.bin", dest, md5(b"something else"))

    assert str(dest.with_name("file.bin.part")) in str(caught.value)
    assert not dest.exists()
    assert not dest.with_name("file.bin.part").exists()


def test_part_file_is_resumed_with_a_range_request(tmp_path, local_server):
    local_server.files["file.bin"] = CONTENT
    dest = tmp_path / "file.bin"
    dest.with_name("file.bin.part").write_bytes(CONTENT[:40000])  # an interrupted download

    download(local_server.url + "file.bin", dest, md5(CONTENT))

    assert dest.read_bytes() == CONTENT
    assert local_server.requests == [("file.bin", "bytes=40000-")]


def test_complete_part_file_is_accepted_when_the_server_has_nothing_more(tmp_path, local_server):
    local_server.files["file.bin"] = CONTENT
    dest = tmp_path / "file.bin"
    dest.with_name("file.bin.part").write_bytes(CONTENT)  # interrupted just before the rename

    download(local_server.url + "file.bin", dest, md5(CONTENT))

    assert dest.read_bytes() == CONTENT


def test_server_errors_are_retried_then_reported_with_the_address(tmp_path, local_server):
    local_server.status["file.bin"] = 503

    with pytest.raises(DatasetUnavailableError, match=r"could not download .*file\.bin"):
        download(local_server.url + "file.bin", tmp_path / "file.bin", None, backoff=0.0)

    assert len(local_server.requests) == 3  # the default three attempts


def test_fetch_falls_back_to_the_next_mirror(ctx, local_server):
    local_server.files["good/file.bin"] = CONTENT
    file = RemoteFile(
        "file.bin", (local_server.url + "gone/file.bin", local_server.url + "good/file.bin"),
        md5(CONTENT),
    )  # fmt: skip

    path = fetch(ctx, "demo", file, how="pass --data-dir")

    assert path == ctx.cache_dir / "demo" / "file.bin" and path.read_bytes() == CONTENT


def test_corrupt_file_in_the_cache_is_named(ctx):
    cached = ctx.cache_dir / "demo" / "file.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(CONTENT[:-10])  # truncated
    file = RemoteFile("file.bin", ("http://127.0.0.1:9/file.bin",), md5(CONTENT))

    with pytest.raises(DataIntegrityError, match="corrupt or partial") as caught:
        fetch(ctx, "demo", file, how="")

    assert str(cached) in str(caught.value)


def test_offline_and_not_cached_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetUnavailableError) as caught:
        load_dataset("cifar10", cache_dir=tmp_path, download=False)

    message = str(caught.value)
    assert "'cifar10' is not available" in message
    assert str(tmp_path / "cifar10") in message and "download (disabled)" in message
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in message and "--data-dir" in message


def test_unreachable_mirror_is_reported_with_what_was_tried(ctx, local_server):
    local_server.status["file.bin"] = 404
    file = RemoteFile("file.bin", (local_server.url + "file.bin",), md5(CONTENT))

    with pytest.raises(DatasetUnavailableError) as caught:
        fetch(ctx, "demo", file, how="Get it from the moon.")

    message = str(caught.value)
    assert "'demo' is not available" in message and "404" in message
    assert message.endswith("Get it from the moon.")
    assert len(local_server.requests) == 1  # a 404 is not retried
