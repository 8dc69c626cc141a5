"""Vision loaders on small files in the real formats: IDX, and CIFAR's pickled batches."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from minaction.data import DataContext, load_dataset
from minaction.data.files import RemoteFile
from minaction.data.idx import read_idx, write_idx
from minaction.data.vision import (
    CIFAR10_TRAIN_BATCHES,
    FASHION_SOURCE,
    load_cifar10,
    parse_cifar_batch,
    read_cifar_archive,
)
from minaction.errors import DataIntegrityError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


# -- IDX ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)

    write_idx(tmp_path / name, images)

    assert np.array_equal(read_idx(tmp_path / name), images)


def test_truncated_idx_file_is_named(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    write_idx(path, np.arange(10, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])

    with pytest.raises(DataIntegrityError, match="truncated or corrupt") as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


def test_damaged_gzip_is_named(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    write_idx(path, np.arange(100, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:20])

    with pytest.raises(DataIntegrityError, match="damaged gzip"):
        read_idx(path)


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is absent")
def test_fashion_mnist_loads_from_the_debian_package(tmp_path):
    data = load_dataset("fashion-mnist", cache_dir=tmp_path)

    assert data.sizes == (60000, 10000)  # all 70,000 images
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert sorted(set(data.y_train.tolist())) == list(range(10))
    assert sorted(set(data.y_test.tolist())) == list(range(10))
    assert 0.0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1.0
    assert not (tmp_path / "fashion-mnist").exists()  # read in place, nothing downloaded


def test_fashion_mnist_from_a_data_dir_is_checked(tmp_path):
    for file in FASHION_SOURCE.files.values():
        write_idx(tmp_path / (file.name + ".gz"), np.zeros(file.shape[:1], dtype=np.uint8))

    with pytest.raises(DataIntegrityError, match="does not hold the expected"):
        load_dataset("fashion-mnist", data_dir=tmp_path, cache_dir=tmp_path / "cache")


# -- CIFAR-10 -------------------------------------------------------------------------------------


def cifar_batch(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A pickled batch as the CIFAR python version stores it: a dict with data and labels."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    batch = {b"batch_label": b"batch", b"labels": labels, b"data": data,
             b"filenames": [b"img.png"] * n}  # fmt: skip
    return pickle.dumps(batch, protocol=2), data, np.asarray(labels)


def write_cifar_archive(path: Path, n: int = 4) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A small cifar-10-python.tar.gz with the published layout; returns what it holds."""
    written = {}
    with tarfile.open(path, "w:gz") as archive:
        for seed, name in enumerate((*CIFAR10_TRAIN_BATCHES, "test_batch", "batches.meta")):
            if name == "batches.meta":
                raw = pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2)
            else:
                raw, data, labels = cifar_batch(n, seed)
                written[name] = (data, labels)
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size = len(raw)
            archive.addfile(member, io.BytesIO(raw))
    return written


def test_cifar_archive_loads_through_the_cache(tmp_path, local_server):
    archive = tmp_path / "cifar-10-python.tar.gz"
    written = write_cifar_archive(archive)
    raw = archive.read_bytes()
    local_server.files["cifar-10-python.tar.gz"] = raw
    remote = RemoteFile(
        "cifar-10-python.tar.gz",
        (local_server.url + "cifar-10-python.tar.gz",),
        "md5:" + hashlib.md5(raw).hexdigest(),
    )
    ctx = DataContext.create(cache_dir=tmp_path / "cache")

    x_train, y_train, x_test, y_test = load_cifar10(ctx, archive=remote)

    assert x_train.shape == (20, 3, 32, 32) and x_test.shape == (4, 3, 32, 32)
    first, labels = written["data_batch_1"]
    # Row layout: 1024 red, then 1024 green, then 1024 blue values, each 32×32 row-major.
    assert np.allclose(x_train[0, 1, 0, 5].item(), first[0, 1024 + 5] / 255.0)
    assert np.array_equal(y_train[:4].numpy(), labels)
    assert np.array_equal(y_test.numpy(), written["test_batch"][1])
    assert (ctx.cache_dir / "cifar10" / "cifar-10-python.tar.gz").is_file()


def test_cifar_extracted_folder_in_data_dir(tmp_path):
    write_cifar_archive(tmp_path / "a.tar.gz")
    with tarfile.open(tmp_path / "a.tar.gz") as archive:
        archive.extractall(tmp_path / "data", filter="data")
    ctx = DataContext.create(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")

    x_train, _, x_test, _ = load_cifar10(ctx, batch_md5=None)
    assert x_train.shape == (20, 3, 32, 32) and x_test.shape == (4, 3, 32, 32)

    # The published md5 of each batch is checked when the folder claims to be the real one.
    with pytest.raises(DataIntegrityError, match="data_batch_1 fails its md5"):
        load_cifar10(ctx)


def test_truncated_cifar_archive_is_named(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_archive(archive, n=50)
    archive.write_bytes(archive.read_bytes()[: os.path.getsize(archive) // 2])

    with pytest.raises(DataIntegrityError, match="truncated") as caught:
        read_cifar_archive(archive)
    assert str(archive) in str(caught.value)


def test_cifar_batch_that_would_run_code_is_refused():
    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    raw = pickle.dumps({"data": Payload(), "labels": []}, protocol=2)

    with pytest.raises(DataIntegrityError, match=r"(posix|os)\.getcwd"):
        parse_cifar_batch(raw, "evil")


def test_cifar_batch_with_wrong_shape_is_refused():
    raw = pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, protocol=2)

    with pytest.raises(DataIntegrityError, match=r"expected \(N, 3072\)"):
        parse_cifar_batch(raw, "small")


def test_gzip_helper_matches_idx_reader(tmp_path):
    # The IDX reader decides on gzip by magic bytes, not by the name.
    payload = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "plain", payload)
    (tmp_path / "zipped").write_bytes(gzip.compress((tmp_path / "plain").read_bytes()))

    assert np.array_equal(read_idx(tmp_path / "zipped"), payload)
