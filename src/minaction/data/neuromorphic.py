"""Neuromorphic datasets as event frames (T, 2, H, W): N-MNIST, SHD, and events emulated offline.

`nmnist` reads the binary event files of N-MNIST (in their zip archives or extracted), `shd`
the HDF5 files of the Spiking Heidelberg Digits. `dvs-digits` and `dvs-fashion-mnist` are
emulated from static images by `minaction.data.events` and need no download. Binned frames are
cached, keyed by the binning or emulation settings, a checksum of the source and the subset.
Polarity channel 0 counts OFF events and channel 1 ON events.
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from minaction.data import vision
from minaction.data.cache import array_digest, cached_arrays, files_digest
from minaction.data.download import verify_checksum
from minaction.data.events import EmulationParams, bin_events, emulate_events
from minaction.data.files import RemoteFile, fetch, gunzip_file, is_present, user_file
from minaction.data.registry import (
    DataContext,
    DatasetInfo,
    dataset_availability,
    register_dataset,
)
from minaction.errors import DataIntegrityError, DatasetUnavailableError

log = logging.getLogger(__name__)


def _frames(counts: np.ndarray) -> torch.Tensor:
    # NOTE: frames are dense float32 in memory, as the registry hands out tensors: the whole of
    # nmnist is 3.9 GB and dvs-fashion-mnist 3.4 GB. --limit-train keeps this down; a sparse or
    # memory-mapped Dataset would remove the limit.
    return torch.from_numpy(counts.astype(np.float32))  # (N, T, 2, H, W) counts as floats


# -- N-MNIST --------------------------------------------------------------------------------------

NMNIST_SENSOR = (34, 34)  # (H, W) of the ATIS sensor crop
NMNIST_BINS = 6
NMNIST_DURATION_US = 300_000  # three saccades of about 100 ms
_MENDELEY = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
NMNIST_FILES = {
    "train": RemoteFile(
        "Train.zip",
        (_MENDELEY + "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",),
        "md5:20959b8e626244a1b502305a9e6e2031",
    ),
    "test": RemoteFile(
        "Test.zip",
        (_MENDELEY + "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",),
        "md5:69ca8762b2fe404d9b9bad1103e97832",
    ),
}
NMNIST_HOW = (
    "Download Train.zip and Test.zip of N-MNIST (Orchard et al. 2015, "
    "https://data.mendeley.com/datasets/468j46mzdv/1) and pass their directory (or one holding "
    "the extracted Train/ and Test/ folders) with --data-dir, or run where the network is "
    "reachable"
)

NMNIST = DatasetInfo(
    name="nmnist",
    modality="neuromorphic",
    kind="events",
    input_shape=(NMNIST_BINS, 2, *NMNIST_SENSOR),
    classes=tuple(str(d) for d in range(10)),
    description="N-MNIST: MNIST digits recorded by an ATIS event camera making three saccades",
    source="N-MNIST binary event files (Orchard, Jayawant, Cohen, Thakor 2015), Mendeley Data",
    split="the published split: 60,000 train / 10,000 test",
    normalization=(
        f"event counts in {NMNIST_BINS} bins of {NMNIST_DURATION_US // NMNIST_BINS // 1000} ms "
        "(later events in the last bin); channel 0 OFF, 1 ON"
    ),
    offline=False,
    sizes=(60000, 10000),
)

_NMNIST_MEMBER = re.compile(r"(?:^|/)(\d)/[^/]+\.bin$")


def decode_nmnist(raw: bytes, source: str = "<bytes>") -> tuple[np.ndarray, ...]:
    """Events (x, y, polarity, time in µs) of one N-MNIST file.

    Each event is 40 bits, big-endian: 8-bit x, 8-bit y, 1-bit polarity (1 = ON), 23-bit time.
    """
    if len(raw) % 5:
        raise DataIntegrityError(
            f"{source} holds {len(raw)} bytes, not a whole number of 5-byte events: the file is "
            "truncated or not an N-MNIST event file"
        )
    events = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    x, y = events[:, 0], events[:, 1]
    polarity = events[:, 2] >> 7
    time = ((events[:, 2] & 0x7F) << 16) | (events[:, 3] << 8) | events[:, 4]
    return x, y, polarity, time


def encode_nmnist(x, y, polarity, time) -> bytes:
    """The 40-bit event encoding of N-MNIST files (the inverse of `decode_nmnist`)."""
    x, y, polarity, time = (np.asarray(a, dtype=np.int64) for a in (x, y, polarity, time))
    if (time >= 1 << 23).any() or (time < 0).any():
        raise ValueError("N-MNIST timestamps are 23-bit microsecond counts")
    events = np.stack(
        [x, y, (polarity << 7) | (time >> 16), (time >> 8) & 0xFF, time & 0xFF], axis=1
    ).astype(np.uint8)
    return events.tobytes()


class _EventFiles:
    """The event files of one split, in a zip archive or a folder, with their labels."""

    def __init__(self, root: Path):
        self.root = root
        if root.is_dir():
            self.archive = None
            names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.bin"))
        else:
            try:
                self.archive = zipfile.ZipFile(root)
            except (zipfile.BadZipFile, OSError) as err:
                raise DataIntegrityError(
                    f"{root} is not a readable zip archive ({err}); delete it and fetch it again"
                ) from None
            names = sorted(self.archive.namelist())
        # Archives packed on a Mac carry "__MACOSX/.../._name" shadows of every file: skip them.
        names = [
            n for n in names if "__MACOSX" not in n and not n.rsplit("/", 1)[-1].startswith(".")
        ]
        labelled = [(n, _NMNIST_MEMBER.search(n)) for n in names]
        self.names = [n for n, match in labelled if match]
        self.labels = np.array([int(match.group(1)) for _, match in labelled if match])
        if not self.names:
            raise DataIntegrityError(
                f"{root} holds no event files under digit folders (<digit>/<id>.bin)"
            )

    def read(self, name: str) -> bytes:
        if self.archive is None:
            return (self.root / name).read_bytes()
        try:
            return self.archive.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
            raise DataIntegrityError(
                f"{self.root}: member {name} cannot be read ({err}); the archive is damaged"
            ) from None

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def _nmnist_sources(ctx: DataContext, files: dict[str, RemoteFile]) -> dict[str, Path]:
    if ctx.data_dir is not None:
        folders = {s: ctx.data_dir / f.name.removesuffix(".zip") for s, f in files.items()}
        if all(folder.is_dir() for folder in folders.values()):
            return folders
    return {split: fetch(ctx, "nmnist", f, NMNIST_HOW) for split, f in files.items()}


def _nmnist_availability(ctx: DataContext) -> str:
    if ctx.data_dir is not None and all((ctx.data_dir / s).is_dir() for s in ("Train", "Test")):
        return "available"
    present = all(is_present(ctx, "nmnist", f) for f in NMNIST_FILES.values())
    return "available" if present else "download"


@register_dataset(NMNIST, availability=_nmnist_availability)
def load_nmnist(ctx: DataContext, files: dict[str, RemoteFile] = NMNIST_FILES):
    sources = _nmnist_sources(ctx, files)
    out = []
    for split in ("train", "test"):
        source = sources[split]
        events = _EventFiles(source)
        chosen = ctx.subset_indices(events.labels, split)

        def build(events=events, chosen=chosen) -> dict[str, np.ndarray]:
            frames = np.zeros((len(chosen), NMNIST_BINS, 2, *NMNIST_SENSOR), dtype=np.uint16)
            for row, i in enumerate(chosen):
                x, y, polarity, time = decode_nmnist(events.read(events.names[i]), events.names[i])
                frames[row] = bin_events(
                    x, y, polarity, time, NMNIST_SENSOR, NMNIST_BINS, NMNIST_DURATION_US
                )
            return {"x": frames, "y": events.labels[chosen].astype(np.int64)}

        try:
            if events.archive is None:
                # NOTE: an extracted folder is not cached: hashing its 70,000 files would cost
                # as much as decoding them.
                arrays = build()
            else:
                # `fetch` verified the archive against its checksum, which names its content.
                key = files[split].checksum or files_digest([source])
                params = {
                    "split": split,
                    "bins": NMNIST_BINS,
                    "duration_us": NMNIST_DURATION_US,
                    "subset": array_digest(chosen),
                }
                arrays = cached_arrays(ctx, "nmnist", params, key, build)
        finally:
            events.close()
        out += [_frames(arrays["x"]), torch.from_numpy(arrays["y"])]
    return tuple(out)


# -- SHD ------------------------------------------------------------------------------------------

SHD_UNITS = 700  # channels of the cochlea model
SHD_POOL = 5  # neighbouring channels summed into one: 700 → 140
SHD_BINS = 40
SHD_DURATION_S = 1.4  # the longest recordings last about 1.4 s
_SHD_MIRRORS = ("https://zenkelab.org/datasets/", "https://compneuro.net/datasets/")
SHD_FILES = {
    split: RemoteFile(
        f"shd_{split}.h5.gz", tuple(m + f"shd_{split}.h5.gz" for m in _SHD_MIRRORS), f"md5:{md5}"
    )
    for split, md5 in (
        ("train", "d47c9825dee33347913e8ce0f2be08b0"),
        ("test", "3062a80ec0c5719404d5b02e166543b1"),
    )
}
# md5 of the decompressed HDF5 files, to check a copy the user already decompressed.
SHD_H5_MD5 = {
    "train": "8e9877c85f29a28dd353ea6a54402667",
    "test": "207ad1295a0ab611e22d1734989c254e",
}
SHD_HOW = (
    "Download shd_train.h5.gz and shd_test.h5.gz from https://zenkelab.org/datasets/ and pass "
    "their directory (compressed or not) with --data-dir, or run where the network is reachable; "
    "reading them needs h5py (pip install h5py)"
)
# NOTE: the class order (English 0–9, then German) is that of SHD's documentation as other
# loaders use it; it could not be checked against a real file here, so the loader compares it
# with the file's own extra/keys and warns on a difference.
SHD_CLASSES = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    *("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"),
)

SHD = DatasetInfo(
    name="shd",
    modality="neuromorphic",
    kind="events",
    input_shape=(SHD_BINS, 2, 1, SHD_UNITS // SHD_POOL),
    classes=SHD_CLASSES,
    description="Spiking Heidelberg Digits: spoken digits 0–9, English and German, as spikes",
    source="SHD HDF5 files (Cramer, Stradmann, Schemmel, Zenke 2020), zenkelab.org",
    split="the published split: 8,156 train / 2,264 test; test speakers include two unseen ones",
    normalization=(
        f"spike counts in {SHD_BINS} bins of {SHD_DURATION_S / SHD_BINS * 1000:.0f} ms over "
        f"{SHD_DURATION_S} s, {SHD_POOL} neighbouring channels summed; all spikes in channel 1 "
        "(ON), channel 0 empty"
    ),
    offline=False,
    sizes=(8156, 2264),
)


def read_shd(path: Path) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[str] | None]:
    """Labels, spike times (s) and units per sample, and the class names, of an SHD HDF5 file."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            labels = np.asarray(handle["labels"][:], dtype=np.int64)
            times = list(handle["spikes"]["times"][:])
            units = list(handle["spikes"]["units"][:])
            keys = None
            if "extra" in handle and "keys" in handle["extra"]:
                keys = [
                    k.decode() if isinstance(k, bytes) else str(k)
                    for k in handle["extra"]["keys"][:]
                ]
    except (OSError, KeyError) as err:
        raise DataIntegrityError(
            f"{path} is not a readable SHD file with spikes/times, spikes/units and labels "
            f"({err}); delete it and fetch it again"
        ) from None
    if not len(labels) == len(times) == len(units):
        raise DataIntegrityError(
            f"{path}: {len(labels)} labels for {len(times)} spike-time and {len(units)} unit rows"
        )
    return labels, times, units, keys


def _shd_path(
    ctx: DataContext, split: str, files: dict[str, RemoteFile], h5_md5: dict[str, str] | None
) -> tuple[Path, str]:
    """The HDF5 file of `split` and a content key for it.

    A decompressed file in the data directory is used as it is (checked against `h5_md5`);
    otherwise the gzip file is found or downloaded and decompressed into the cache once.
    """
    gz = files[split]
    h5_name = gz.name.removesuffix(".gz")
    plain = user_file(ctx, h5_name)
    if plain is not None:
        if h5_md5 is not None:
            verify_checksum(plain, f"md5:{h5_md5[split]}")
            return plain, f"md5:{h5_md5[split]}"
        return plain, files_digest([plain])
    cached = ctx.cache_dir / "shd" / h5_name
    if ctx.data_dir is None and cached.is_file():
        # Written atomically from a verified gzip file, so it is whole.
        return cached, gz.checksum or files_digest([cached])
    compressed = fetch(ctx, "shd", gz, SHD_HOW)
    cached.parent.mkdir(parents=True, exist_ok=True)
    log.info("decompressing %s to %s", compressed, cached)
    gunzip_file(compressed, cached)
    return cached, gz.checksum or files_digest([compressed])


def _shd_availability(ctx: DataContext) -> str:
    try:
        import h5py  # noqa: F401
    except ImportError:
        return "missing"
    ok = all(
        is_present(ctx, "shd", f) or user_file(ctx, f.name.removesuffix(".gz")) is not None
        for f in SHD_FILES.values()
    )
    return "available" if ok else "download"


@register_dataset(SHD, availability=_shd_availability)
def load_shd(
    ctx: DataContext,
    files: dict[str, RemoteFile] = SHD_FILES,
    h5_md5: dict[str, str] | None = SHD_H5_MD5,
):
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise DatasetUnavailableError(
            "dataset 'shd' needs h5py to read its HDF5 files: pip install h5py"
        ) from None
    width = SHD_UNITS // SHD_POOL
    out = []
    for split in ("train", "test"):
        path, key = _shd_path(ctx, split, files, h5_md5)

        def build(path=path, split=split) -> dict[str, np.ndarray]:
            labels, times, units, keys = read_shd(path)
            if keys is not None and tuple(keys) != SHD_CLASSES:
                log.warning(
                    "%s names its classes %s; minaction assumes %s", path, keys, SHD_CLASSES
                )
            chosen = ctx.subset_indices(labels, split)
            frames = np.zeros((len(chosen), SHD_BINS, 2, 1, width), dtype=np.uint16)
            for row, i in enumerate(chosen):
                unit = np.asarray(units[i], dtype=np.int64) // SHD_POOL
                frames[row] = bin_events(
                    unit,
                    np.zeros_like(unit),
                    # NOTE: SHD spikes have no polarity: all count as ON and channel 0 stays
                    # empty, which doubles the input of a flattening model for nothing.
                    np.ones_like(unit),
                    np.asarray(times[i], dtype=np.float64),
                    (1, width),
                    SHD_BINS,
                    SHD_DURATION_S,
                )
            return {"x": frames, "y": labels[chosen]}

        params = {
            "split": split,
            "bins": SHD_BINS,
            "pool": SHD_POOL,
            "duration_s": SHD_DURATION_S,
            "limit": ctx.limit_train if split == "train" else ctx.limit_test,
            "seed": ctx.subset_seed,
        }
        arrays = cached_arrays(ctx, "shd", params, key, build)
        out += [_frames(arrays["x"]), torch.from_numpy(arrays["y"])]
    return tuple(out)


# -- emulated from static images ------------------------------------------------------------------

DVS_DIGITS_PARAMS = EmulationParams(threshold=0.2, steps=10, bins=6, amplitude=1.0)
DVS_FASHION_PARAMS = EmulationParams(threshold=0.2, steps=10, bins=6, amplitude=2.0)


def _emulated_info(name: str, base: DatasetInfo, params: EmulationParams) -> DatasetInfo:
    _, h, w = base.input_shape
    pad = params.pad
    return DatasetInfo(
        name=name,
        modality="neuromorphic",
        kind="events",
        input_shape=(params.bins, 2, h + 2 * pad, w + 2 * pad),
        classes=base.classes,
        description=f"{base.name} images seen by an emulated event camera making three saccades",
        source=f"emulated offline from {base.name} ({base.source})",
        split=f"that of {base.name}: {base.split}",
        normalization=(
            f"event counts; threshold {params.threshold} log units, {params.steps} steps a "
            f"saccade, triangle of side {params.amplitude} px, {params.bins} bins, image padded "
            f"by {pad} px; channel 0 OFF, 1 ON"
        ),
        offline=True,
        sizes=base.sizes,
    )


def _emulated(
    ctx: DataContext, name: str, params: EmulationParams, images: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """Emulate the events of the asked-for subset of (x_train, y_train, x_test, y_test)."""
    out = []
    for split, x, y in (("train", images[0], images[1]), ("test", images[2], images[3])):
        labels = y.numpy()
        chosen = ctx.subset_indices(labels, split)
        pictures = x.numpy()[chosen, 0]  # (n, H, W) grey in [0, 1]

        def build(pictures=pictures, labels=labels[chosen], split=split) -> dict[str, np.ndarray]:
            log.info("emulating events for %d %s images of %s", len(pictures), split, name)
            return {"x": emulate_events(pictures, params), "y": labels.astype(np.int64)}

        key = array_digest(pictures, labels[chosen])
        arrays = cached_arrays(ctx, name, {"split": split, **params.as_dict()}, key, build)
        out += [_frames(arrays["x"]), torch.from_numpy(arrays["y"])]
    return tuple(out)


DVS_DIGITS = _emulated_info("dvs-digits", vision.DIGITS, DVS_DIGITS_PARAMS)
DVS_FASHION_MNIST = _emulated_info("dvs-fashion-mnist", vision.FASHION_MNIST, DVS_FASHION_PARAMS)


@register_dataset(DVS_DIGITS)
def load_dvs_digits(ctx: DataContext, params: EmulationParams = DVS_DIGITS_PARAMS):
    return _emulated(ctx, "dvs-digits", params, vision.load_digits(ctx))


def _dvs_fashion_availability(ctx: DataContext) -> str:
    return dataset_availability("fashion-mnist", ctx)


@register_dataset(DVS_FASHION_MNIST, availability=_dvs_fashion_availability)
def load_dvs_fashion_mnist(ctx: DataContext, params: EmulationParams = DVS_FASHION_PARAMS):
    try:
        images = vision.load_fashion_mnist(ctx)
    except DatasetUnavailableError as err:
        raise DatasetUnavailableError(
            f"dataset 'dvs-fashion-mnist' is emulated from the images of fashion-mnist, which "
            f"cannot be loaded: {err}"
        ) from None
    return _emulated(ctx, "dvs-fashion-mnist", params, images)
