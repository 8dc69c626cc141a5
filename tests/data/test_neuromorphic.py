"""N-MNIST's binary event files, SHD's HDF5 layout, and the cache of emulated event frames."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from minaction.data import DataContext, load_dataset
from minaction.data.files import RemoteFile
from minaction.data.neuromorphic import (
    NMNIST_BINS,
    SHD_BINS,
    SHD_POOL,
    decode_nmnist,
    encode_nmnist,
    load_nmnist,
    load_shd,
)
from minaction.errors import DataIntegrityError

# -- N-MNIST --------------------------------------------------------------------------------------


def test_nmnist_event_encoding_is_40_bits_big_endian():
    # x = 3, y = 7, ON, t = 0x012345 µs → 03 07 81 23 45 (polarity in the top bit of byte 2)
    raw = encode_nmnist([3], [7], [1], [0x012345])

    assert raw == bytes([0x03, 0x07, 0x81, 0x23, 0x45])
    x, y, polarity, time = decode_nmnist(raw)
    assert (x[0], y[0], polarity[0], time[0]) == (3, 7, 1, 0x012345)


def test_nmnist_decoding_round_trips_large_timestamps():
    rng = np.random.default_rng(0)
    events = [rng.integers(0, 34, 50), rng.integers(0, 34, 50), rng.integers(0, 2, 50),
              np.sort(rng.integers(0, 1 << 23, 50))]  # fmt: skip

    decoded = decode_nmnist(encode_nmnist(*events))

    assert all(np.array_equal(a, b) for a, b in zip(events, decoded, strict=True))


def test_truncated_nmnist_file_is_named():
    raw = encode_nmnist([1, 2], [1, 2], [0, 1], [10, 20])[:-2]

    with pytest.raises(DataIntegrityError, match=r"00004\.bin holds 8 bytes"):
        decode_nmnist(raw, "Train/3/00004.bin")


def write_nmnist_split(root, split: str, per_class: int = 2, as_zip: bool = True):
    """A split in the published layout: <Split>/<digit>/<id>.bin, zipped or as a folder.

    Sample `k` of digit `d` has d + 1 ON events at pixel (d, k) at 1 ms, and one OFF event
    at (0, 0) at 250 ms.
    """
    files = {}
    for digit in range(10):
        for k in range(per_class):
            n = digit + 1
            raw = encode_nmnist([digit] * n + [0], [k] * n + [0], [1] * n + [0],
                                [1000] * n + [250_000])  # fmt: skip
            files[f"{split}/{digit}/{digit * 100 + k:05d}.bin"] = raw
    if as_zip:
        with zipfile.ZipFile(root / f"{split}.zip", "w") as archive:
            for name, raw in files.items():
                archive.writestr(name, raw)
    else:
        for name, raw in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(raw)


@pytest.mark.parametrize("as_zip", [True, False], ids=["zip", "folder"])
def test_nmnist_loads_events_into_frames(tmp_path, as_zip):
    for split in ("Train", "Test"):
        write_nmnist_split(tmp_path, split, as_zip=as_zip)
    files = {s: RemoteFile(f"{f}.zip", ()) for s, f in (("train", "Train"), ("test", "Test"))}
    ctx = DataContext.create(data_dir=tmp_path, cache_dir=tmp_path / "cache")

    x_train, y_train, x_test, _ = load_nmnist(ctx, files=files)

    assert x_train.shape == (20, NMNIST_BINS, 2, 34, 34) and len(x_test) == 20
    assert sorted(y_train.tolist()) == sorted(list(range(10)) * 2)
    sample = int(np.flatnonzero(y_train.numpy() == 7)[1])  # digit 7, k = 1
    assert x_train[sample, 0, 1, 1, 7] == 8  # 8 ON events at (x=7, y=1) in the first bin
    assert x_train[sample, 5, 0, 0, 0] == 1  # the OFF event at 250 ms, in the last of 6 bins
    assert x_train[sample].sum() == 9


def test_nmnist_subset_reads_only_what_is_asked(tmp_path):
    for split in ("Train", "Test"):
        write_nmnist_split(tmp_path, split, per_class=3)
    files = {s: RemoteFile(f"{f}.zip", ()) for s, f in (("train", "Train"), ("test", "Test"))}
    ctx = DataContext.create(data_dir=tmp_path, cache_dir=tmp_path / "c", limit_train=10)

    x_train, y_train, _, y_test = load_nmnist(ctx, files=files)

    assert len(x_train) == 10 and sorted(y_train.tolist()) == list(range(10))
    assert len(y_test) == 30


def test_damaged_nmnist_archive_is_named(tmp_path):
    write_nmnist_split(tmp_path, "Train")
    write_nmnist_split(tmp_path, "Test")
    archive = tmp_path / "Train.zip"
    archive.write_bytes(archive.read_bytes()[:-200])  # its central directory is cut off
    files = {s: RemoteFile(f"{f}.zip", ()) for s, f in (("train", "Train"), ("test", "Test"))}
    ctx = DataContext.create(data_dir=tmp_path, cache_dir=tmp_path / "cache")

    with pytest.raises(DataIntegrityError, match=r"Train\.zip is not a readable zip"):
        load_nmnist(ctx, files=files)


# -- SHD ------------------------------------------------------------------------------------------


def write_shd(path, labels):
    """An SHD file: spikes/times (s) and spikes/units as variable-length rows, and labels.

    Sample i has i + 1 spikes on unit 10·i at 0.1 s, and one spike on unit 699 at 2.0 s.
    """
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as handle:
        times = handle.create_dataset(
            "spikes/times", (len(labels),), dtype=h5py.vlen_dtype(np.float32)
        )
        units = handle.create_dataset(
            "spikes/units", (len(labels),), dtype=h5py.vlen_dtype(np.uint16)
        )
        for i in range(len(labels)):
            times[i] = np.array([0.1] * (i + 1) + [2.0], dtype=np.float32)
            units[i] = np.array([10 * i] * (i + 1) + [699], dtype=np.uint16)
        handle.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))


def test_shd_loads_spikes_into_frames(tmp_path):
    write_shd(tmp_path / "shd_train.h5", list(range(20)))
    write_shd(tmp_path / "shd_test.h5", [3, 19])
    ctx = DataContext.create(data_dir=tmp_path, cache_dir=tmp_path / "cache")

    x_train, y_train, x_test, y_test = load_shd(ctx, h5_md5=None)

    assert x_train.shape == (20, SHD_BINS, 2, 1, 700 // SHD_POOL) and len(x_test) == 2
    assert y_train.tolist() == list(range(20)) and y_test.tolist() == [3, 19]
    # Sample 4: 5 spikes on unit 40 → channel 40 // 5 = 8, at 0.1 s → bin 0.1 / 1.4 · 40 = 2.
    assert x_train[4, 2, 1, 0, 8] == 5
    assert x_train[4, -1, 1, 0, 139] == 1  # 2.0 s is past the window: the last bin
    assert x_train[:, :, 0].sum() == 0  # no polarity: channel 0 stays empty


def test_shd_gzip_file_in_the_cache_is_decompressed_once(tmp_path, local_server):
    import gzip
    import hashlib

    for split, labels in (("train", list(range(20))), ("test", [1, 2])):
        write_shd(tmp_path / f"shd_{split}.h5", labels)
        raw = gzip.compress((tmp_path / f"shd_{split}.h5").read_bytes())
        local_server.files[f"shd_{split}.h5.gz"] = raw
    files = {
        s: RemoteFile(
            f"shd_{s}.h5.gz",
            (local_server.url + f"shd_{s}.h5.gz",),
            "md5:" + hashlib.md5(local_server.files[f"shd_{s}.h5.gz"]).hexdigest(),
        )
        for s in ("train", "test")
    }
    ctx = DataContext.create(cache_dir=tmp_path / "cache")

    first = load_shd(ctx, files=files, h5_md5=None)
    second = load_shd(ctx, files=files, h5_md5=None)

    assert (ctx.cache_dir / "shd" / "shd_train.h5").is_file()
    assert len(local_server.requests) == 2  # one download per file, none on the second load
    assert all((a == b).all() for a, b in zip(first, second, strict=True))


def test_truncated_shd_file_is_named(tmp_path):
    write_shd(tmp_path / "shd_train.h5", list(range(20)))
    write_shd(tmp_path / "shd_test.h5", [1])
    path = tmp_path / "shd_train.h5"
    path.write_bytes(path.read_bytes()[:1000])
    ctx = DataContext.create(data_dir=tmp_path, cache_dir=tmp_path / "cache")

    with pytest.raises(DataIntegrityError, match=r"shd_train\.h5 is not a readable SHD file"):
        load_shd(ctx, h5_md5=None)


# -- emulated -------------------------------------------------------------------------------------


def test_emulated_events_are_cached_and_read_back(tmp_path, monkeypatch):
    first = load_dataset("dvs-digits", cache_dir=tmp_path, limit_train=50, limit_test=20)
    derived = list((tmp_path / "dvs-digits" / "derived").glob("*.npz"))
    assert len(derived) == 2  # train and test

    def fail(*args, **kwargs):
        raise AssertionError("the second load must read the cache, not emulate again")

    monkeypatch.setattr("minaction.data.neuromorphic.emulate_events", fail)
    second = load_dataset("dvs-digits", cache_dir=tmp_path, limit_train=50, limit_test=20)

    assert (first.x_train == second.x_train).all() and (first.y_test == second.y_test).all()
    assert first.x_train.shape == (50, 6, 2, 10, 10)
