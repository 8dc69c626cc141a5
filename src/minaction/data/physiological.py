"""Physiological datasets as sequences (T, F): ECG beats of MIT-BIH, and motion sensors from aeon.

`mitbih` cuts one beat around each annotated R-peak of the MIT-BIH Arrhythmia Database (read
with wfdb) and labels it with its AAMI class; train and test hold different patients.
`basic-motions` and `daphnet-fog` come from the series that the aeon wheel ships, so they need
no download. Extracted beats are cached, keyed by the window and a checksum of the records.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from minaction.data.cache import cached_arrays, files_digest
from minaction.data.download import verify_checksum
from minaction.data.files import RemoteFile, fetch
from minaction.data.registry import DataContext, DatasetInfo, register_dataset, unavailable
from minaction.data.ts_format import read_ts
from minaction.errors import DataIntegrityError, DatasetUnavailableError

log = logging.getLogger(__name__)


def _tensors(*arrays: np.ndarray) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)


def _standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature z-score with the training split's mean and standard deviation."""
    mean = np.nanmean(x_train, axis=(0, 1), keepdims=True)
    std = np.nanstd(x_train, axis=(0, 1), keepdims=True)
    std[std == 0] = 1.0
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


# -- MIT-BIH Arrhythmia Database ------------------------------------------------------------------

MITBIH_URL = "https://physionet.org/files/mitdb/1.0.0/"
# The checksum list PhysioNet publishes for version 1.0.0; it names the sha256 of every file.
# NOTE: the pinned sha256 of the list comes from two independent public records of it; it could
# not be fetched from PhysioNet on the machine this was written on (no network).
MITBIH_SUMS = RemoteFile(
    "SHA256SUMS.txt",
    (MITBIH_URL + "SHA256SUMS.txt",),
    "sha256:b61158a96d5f2ca80edfb354a9a66a6324836c390a84e1966dcee2b907d6be43",
)
# The inter-patient split of de Chazal, O'Dwyer and Reilly (2004); the four records with paced
# beats (102, 104, 107, 217) are in neither half, as the AAMI recommendation asks.
MITBIH_DS1 = (
    *("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122"),
    *("124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230"),
)
MITBIH_DS2 = (
    *("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210"),
    *("212", "213", "214", "219", "221", "222", "228", "231", "232", "233", "234"),
)
# AAMI EC57 beat classes from the database's annotation symbols; other symbols are not beats.
AAMI_CLASSES = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}
SYMBOL_CLASS = {s: i for i, symbols in enumerate(AAMI_CLASSES.values()) for s in symbols}
MITBIH_FS = 360
BEAT_BEFORE = 90  # samples before the R-peak (0.25 s)
BEAT_AFTER = 166  # samples from the R-peak on (0.46 s); 256 in all
MITBIH_LEAD = "MLII"
MITBIH_HOW = (
    f"Download the records of the MIT-BIH Arrhythmia Database from {MITBIH_URL} (or its zip "
    "from https://physionet.org/content/mitdb/1.0.0/) and pass the folder holding the .hea, "
    ".dat and .atr files with --data-dir, or run where the network is reachable; reading them "
    "needs wfdb (pip install wfdb)"
)


@dataclass(frozen=True)
class MitbihSource:
    """Which records make each split and where their files come from (tests pass their own)."""

    train_records: tuple[str, ...] = MITBIH_DS1
    test_records: tuple[str, ...] = MITBIH_DS2
    base_url: str = MITBIH_URL
    sums: RemoteFile | None = MITBIH_SUMS

    def files(self) -> list[str]:
        records = (*self.train_records, *self.test_records)
        return [f"{r}.{ext}" for r in records for ext in ("hea", "dat", "atr")]


MITBIH = DatasetInfo(
    name="mitbih",
    modality="physiological",
    kind="sequence",
    input_shape=(BEAT_BEFORE + BEAT_AFTER, 1),
    classes=tuple(AAMI_CLASSES),
    description="ECG beats of the MIT-BIH Arrhythmia Database in the five AAMI classes",
    source="MIT-BIH Arrhythmia Database 1.0.0 (Moody & Mark 2001), PhysioNet, read with wfdb",
    split=(
        "patient-wise, de Chazal et al. 2004: records DS1 (22 patients, about 51,000 beats) "
        "train / DS2 (22 other patients, about 49,700 beats) test; paced records left out"
    ),
    normalization=(
        f"lead {MITBIH_LEAD}, {BEAT_BEFORE} samples before and {BEAT_AFTER} from each annotated "
        "R-peak at 360 Hz; each beat's median subtracted, then divided by the standard "
        "deviation of all training beats"
    ),
    offline=False,
    # NOTE: no sizes: the exact beat counts depend on the window rule and were not measured
    # here (no network); the listing shows "?" until a load.
)


def parse_sha256sums(path: Path) -> dict[str, str]:
    """File name → sha256 from a `sha256sum`-style list."""
    sums = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        digest, _, name = line.strip().partition(" ")
        if digest and name:
            sums[name.strip().lstrip("*")] = digest
    return sums


def extract_beats(record: Path, before: int = BEAT_BEFORE, after: int = BEAT_AFTER):
    """Beats (n, before + after) float32 in mV and their AAMI classes (n,) of one WFDB record.

    `record` is the path without extension. Beats whose window leaves the recording are dropped.
    """
    import wfdb

    try:
        signals = wfdb.rdrecord(str(record))
        annotation = wfdb.rdann(str(record), "atr")
    except (OSError, ValueError, IndexError, EOFError, KeyError) as err:
        raise DataIntegrityError(
            f"WFDB record {record} cannot be read ({type(err).__name__}: {err}); its .hea, .dat "
            "or .atr file is missing, truncated or corrupt: delete them and fetch them again"
        ) from None
    if signals.fs != MITBIH_FS:
        raise DataIntegrityError(f"record {record} is sampled at {signals.fs} Hz, expected 360")
    if MITBIH_LEAD not in signals.sig_name:
        raise DataIntegrityError(f"record {record} has leads {signals.sig_name}, not {MITBIH_LEAD}")
    ecg = signals.p_signal[:, signals.sig_name.index(MITBIH_LEAD)].astype(np.float32)
    peaks = np.asarray(annotation.sample, dtype=np.int64)
    classes = np.array([SYMBOL_CLASS.get(s, -1) for s in annotation.symbol], dtype=np.int64)
    keep = (classes >= 0) & (peaks >= before) & (peaks + after <= len(ecg))
    window = peaks[keep, None] + np.arange(-before, after)  # (n, before + after)
    return ecg[window], classes[keep]


def _mitbih_files(ctx: DataContext, source: MitbihSource) -> tuple[Path, str]:
    """The folder holding every record file, verified, and a key for their content.

    Downloads into the cache when needed. The key is the files' sha256 from the checksum list
    they were verified against, or a digest of their bytes when there is no list.
    """
    names = source.files()
    sums: dict[str, str] = {}
    if ctx.data_dir is not None:
        folder = ctx.data_dir
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            tried = [f"data directory {folder} (missing {', '.join(missing[:6])}, ...)"]
            raise unavailable("mitbih", tried, MITBIH_HOW)
        listed = folder / MITBIH_SUMS.name
        if source.sums is not None and listed.is_file():
            verify_checksum(listed, source.sums.checksum)
            sums = parse_sha256sums(listed)
            for name in names:
                verify_checksum(folder / name, f"sha256:{sums[name]}")
    else:
        folder = ctx.cache_dir / "mitbih"
        if source.sums is not None:
            sums = parse_sha256sums(fetch(ctx, "mitbih", source.sums, MITBIH_HOW))
        for name in names:
            checksum = f"sha256:{sums[name]}" if name in sums else None
            fetch(ctx, "mitbih", RemoteFile(name, (source.base_url + name,), checksum), MITBIH_HOW)
    if sums:
        return folder, "sha256-list:" + ",".join(sums[name] for name in names)
    return folder, files_digest(folder / name for name in names)


def _mitbih_availability(ctx: DataContext) -> str:
    if importlib.util.find_spec("wfdb") is None:
        return "missing"
    folder = ctx.data_dir if ctx.data_dir is not None else ctx.cache_dir / "mitbih"
    present = all((folder / name).is_file() for name in MitbihSource().files())
    return "available" if present else "download"


@register_dataset(MITBIH, availability=_mitbih_availability)
def load_mitbih(ctx: DataContext, source: MitbihSource = MitbihSource()):
    if importlib.util.find_spec("wfdb") is None:
        raise DatasetUnavailableError(
            "dataset 'mitbih' needs wfdb to read its records: pip install wfdb"
        )
    folder, content = _mitbih_files(ctx, source)
    params = {
        "before": BEAT_BEFORE,
        "after": BEAT_AFTER,
        "lead": MITBIH_LEAD,
        "symbols": AAMI_CLASSES,
        "train": source.train_records,
        "test": source.test_records,
    }

    def build() -> dict[str, np.ndarray]:
        arrays = {}
        for split, records in (("train", source.train_records), ("test", source.test_records)):
            beats, labels = zip(*(extract_beats(folder / r) for r in records), strict=True)
            arrays[f"x_{split}"] = np.concatenate(beats)  # (n, T) mV
            arrays[f"y_{split}"] = np.concatenate(labels)
        return arrays

    arrays = cached_arrays(ctx, "mitbih", params, content, build)
    x_train = arrays["x_train"] - np.median(arrays["x_train"], axis=1, keepdims=True)
    x_test = arrays["x_test"] - np.median(arrays["x_test"], axis=1, keepdims=True)
    scale = float(x_train.std()) or 1.0
    x_train = (x_train / scale).astype(np.float32)[:, :, None]  # (N, T, 1)
    x_test = (x_test / scale).astype(np.float32)[:, :, None]
    return _tensors(x_train, arrays["y_train"], x_test, arrays["y_test"])


# -- series shipped by aeon -----------------------------------------------------------------------

AEON_HOW = (
    "Install aeon (pip install 'aeon<1.7'), whose wheel ships these series, or pass a directory "
    "holding the files with --data-dir"
)


def aeon_data_dir() -> Path | None:
    """The `datasets/data` folder inside the installed aeon package, found without importing it."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "datasets" / "data"


def _aeon_file(ctx: DataContext, relative: str) -> Path | None:
    """`relative` (e.g. "BasicMotions/BasicMotions_TRAIN.ts") in the data directory or aeon."""
    if ctx.data_dir is not None:
        path = ctx.data_dir / Path(relative).name
        return path if path.is_file() else None
    base = aeon_data_dir()
    if base is None or not (base / relative).is_file():
        return None
    return base / relative


def _aeon_files(ctx: DataContext, name: str, relatives: list[str]) -> list[Path]:
    paths = [_aeon_file(ctx, r) for r in relatives]
    if all(p is not None for p in paths):
        return paths
    if ctx.data_dir is not None:
        tried = [
            f"data directory {ctx.data_dir} (needs {', '.join(Path(r).name for r in relatives)})"
        ]
    else:
        base = aeon_data_dir()
        tried = [f"the aeon package ({base or 'not installed'})"]
    raise unavailable(name, tried, AEON_HOW)


def _aeon_availability(relatives: list[str]):
    def availability(ctx: DataContext) -> str:
        return "available" if all(_aeon_file(ctx, r) for r in relatives) else "missing"

    return availability


BASIC_MOTIONS_FILES = ["BasicMotions/BasicMotions_TRAIN.ts", "BasicMotions/BasicMotions_TEST.ts"]

BASIC_MOTIONS = DatasetInfo(
    name="basic-motions",
    modality="physiological",
    kind="sequence",
    input_shape=(100, 6),
    classes=("standing", "running", "walking", "badminton"),
    description="BasicMotions: smart-watch accelerometer and gyroscope, four activities, 10 s",
    source="UEA multivariate archive, BasicMotions_TRAIN.ts / _TEST.ts shipped in the aeon wheel",
    split="the published split: 40 train / 40 test, 10 of each class in each",
    normalization="each of the 6 channels z-scored with the training split's mean and std",
    offline=True,
    sizes=(40, 40),
)


@register_dataset(BASIC_MOTIONS, availability=_aeon_availability(BASIC_MOTIONS_FILES))
def load_basic_motions(ctx: DataContext):
    train_path, test_path = _aeon_files(ctx, "basic-motions", BASIC_MOTIONS_FILES)
    train, test = read_ts(train_path), read_ts(test_path)
    order = [c.lower() for c in train.class_labels]
    if tuple(order) != BASIC_MOTIONS.classes:
        raise DataIntegrityError(
            f"{train_path} declares classes {train.class_labels}, expected {BASIC_MOTIONS.classes}"
        )
    y_train = np.array([order.index(label.lower()) for label in train.labels], dtype=np.int64)
    y_test = np.array([order.index(label.lower()) for label in test.labels], dtype=np.int64)
    x_train, x_test = _standardize(train.values, test.values)  # (N, 100, 6)
    return _tensors(x_train, y_train, x_test, y_test)


DAPHNET_FILE = "Daphnet_S06R02E0/S06R02E0.csv"
DAPHNET_SENSORS = ("ankle", "thigh", "trunk")
DAPHNET_WINDOW = 128  # 2 s at 64 Hz
DAPHNET_HOP = 32  # windows overlap by 75%: the one recording is short
DAPHNET_TRAIN_FRACTION = 0.75

DAPHNET_FOG = DatasetInfo(
    name="daphnet-fog",
    modality="physiological",
    kind="sequence",
    input_shape=(DAPHNET_WINDOW, 3),
    classes=DAPHNET_SENSORS,
    description=(
        "Daphnet freezing-of-gait recording S06R02: which body-worn sensor (ankle, thigh or "
        "trunk) a 2 s window of 3-axis acceleration comes from"
    ),
    source="Daphnet Freezing of Gait (Roggen et al. 2013), excerpt S06R02E0.csv shipped by aeon",
    split=(
        "by time within the one recording: windows from the first 75% (82.5 s) train, from the "
        "last 25% test; no window crosses the boundary"
    ),
    normalization=(
        f"windows of {DAPHNET_WINDOW} samples every {DAPHNET_HOP}; each window's per-axis mean "
        "removed, so the task is the motion, not how the sensor is mounted; then each axis "
        "z-scored with the training split's mean and std"
    ),
    offline=True,
    sizes=(486, 156),
)


def _windows(series: np.ndarray) -> np.ndarray:
    """Windows (n, DAPHNET_WINDOW, F) of series (T, F), one every DAPHNET_HOP samples."""
    starts = range(0, len(series) - DAPHNET_WINDOW + 1, DAPHNET_HOP)
    return np.stack([series[s : s + DAPHNET_WINDOW] for s in starts])


@register_dataset(DAPHNET_FOG, availability=_aeon_availability([DAPHNET_FILE]))
def load_daphnet_fog(ctx: DataContext):
    # NOTE: aeon ships only this excerpt of Daphnet, and it holds no freeze-of-gait episode (its
    # is_anomaly column is all 0), so freezing cannot be the target. The sensor placement is a
    # real, balanced task on the same signals; the full Daphnet set (UCI) would allow the FoG
    # task. aeon marks the excerpt deprecated and removes it in 1.7, hence the pin below 1.7.
    (path,) = _aeon_files(ctx, "daphnet-fog", [DAPHNET_FILE])
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(1, 10), ndmin=2)
    except ValueError as err:
        raise DataIntegrityError(
            f"{path} is not the Daphnet CSV of 9 sensor columns ({err})"
        ) from None
    if table.shape[1] != 9 or len(table) < 4 * DAPHNET_WINDOW:
        raise DataIntegrityError(
            f"{path} has shape {table.shape}, expected at least {4 * DAPHNET_WINDOW} rows of 9 "
            "acceleration columns (ankle, thigh, trunk × 3 axes)"
        )
    cut = int(len(table) * DAPHNET_TRAIN_FRACTION)
    out = []
    for part in (table[:cut], table[cut:]):
        xs, ys = [], []
        for label in range(len(DAPHNET_SENSORS)):
            windows = _windows(part[:, 3 * label : 3 * label + 3])  # (n, T, 3) in mg
            xs.append(windows - windows.mean(axis=1, keepdims=True))
            ys.append(np.full(len(windows), label, dtype=np.int64))
        out += [np.concatenate(xs), np.concatenate(ys)]
    out[0], out[2] = _standardize(out[0], out[2])
    return _tensors(*out)
