"""Vision datasets: scikit-learn's digits (offline), MNIST and Fashion-MNIST (IDX files), CIFAR-10.

MNIST and Fashion-MNIST are looked for, in order, in the user's data directory, the cache, the
system install of Debian's `dataset-fashion-mnist`, and finally downloaded into the cache. Every
file found is checked: against the published checksum of the gzip download, or against the
checksum of its decompressed content, or at least against the exact size its IDX header implies.
CIFAR-10 is read from its python version: pickled batches in a tar.gz archive, or extracted.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from minaction.data.download import download, file_digest, verify_checksum
from minaction.data.files import RemoteFile, fetch, is_present
from minaction.data.idx import parse_idx, read_bytes
from minaction.data.registry import DataContext, DatasetInfo, register_dataset, unavailable
from minaction.errors import DataIntegrityError, DatasetUnavailableError

log = logging.getLogger(__name__)


# -- digits ---------------------------------------------------------------------------------------

DIGITS = DatasetInfo(
    name="digits",
    modality="vision",
    kind="image",
    input_shape=(1, 8, 8),
    classes=tuple(str(d) for d in range(10)),
    description="scikit-learn's 8×8 handwritten digits (1,797 images), shipped with the package",
    source="sklearn.datasets.load_digits (UCI optical recognition of handwritten digits)",
    split="stratified 75/25 split with a fixed seed (1,347 train / 450 test)",
    normalization="pixel counts 0–16 divided by 16",
    offline=True,
    sizes=(1347, 450),
)


@register_dataset(DIGITS)
def load_digits(ctx: DataContext):
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    # NOTE: digits has no published split; this fixed stratified one stands in for it.
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=450, stratify=labels, random_state=0
    )
    return (torch.from_numpy(x_tr), torch.from_numpy(y_tr), torch.from_numpy(x_te),
            torch.from_numpy(y_te))  # fmt: skip


# -- IDX datasets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdxFile:
    """One file of an IDX dataset and what it must be.

    `gz_md5` is the checksum of the gzip file as published; `raw_sha256` that of its decompressed
    content (the same whoever recompressed it), where known; `shape` is the array it holds.
    """

    name: str
    shape: tuple[int, ...]
    gz_md5: str
    raw_sha256: str | None = None


@dataclass(frozen=True)
class IdxSource:
    base_urls: tuple[str, ...]
    files: dict[str, IdxFile]  # role ("train_images", ...) → file
    system_dirs: tuple[str, ...] = ()
    how_to_get: str = ""


MNIST_SOURCE = IdxSource(
    base_urls=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    files={
        "train_images": IdxFile(
            "train-images-idx3-ubyte", (60000, 28, 28), "f68b3c2dcbeaaa9fbdd348bbdeb94873"
        ),
        "train_labels": IdxFile(
            "train-labels-idx1-ubyte", (60000,), "d53e105ee54ea40749a09fcbcd1e9432"
        ),
        "test_images": IdxFile(
            "t10k-images-idx3-ubyte", (10000, 28, 28), "9fb629c4189551a2d022fa330f9573f3"
        ),
        "test_labels": IdxFile(
            "t10k-labels-idx1-ubyte", (10000,), "ec29112dd5afa0611ce80d1b7f02629c"
        ),
    },
    how_to_get=(
        "Download the four MNIST IDX files (train-images-idx3-ubyte.gz, ...) and pass their "
        "directory with --data-dir, or run where the network is reachable"
    ),
)

FASHION_SOURCE = IdxSource(
    base_urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    files={
        "train_images": IdxFile(
            "train-images-idx3-ubyte",
            (60000, 28, 28),
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "train_labels": IdxFile(
            "train-labels-idx1-ubyte",
            (60000,),
            "25c81989df183df01b3e8a0aad5dffbe",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "test_images": IdxFile(
            "t10k-images-idx3-ubyte",
            (10000, 28, 28),
            "bef4ecab320f06d8554ea6380940ec79",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "test_labels": IdxFile(
            "t10k-labels-idx1-ubyte",
            (10000,),
            "bb300cfdad3c16e7a12a480ee83cd310",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    how_to_get=(
        "Install Debian's package (apt-get install dataset-fashion-mnist), pass a directory "
        "holding the four IDX files with --data-dir, or run where the network is reachable"
    ),
)


def _candidates(directory: Path, file: IdxFile) -> list[Path]:
    return [directory / (file.name + ".gz"), directory / file.name]


def _check_idx(path: Path, file: IdxFile) -> np.ndarray:
    """Decode `path`, verifying it against everything known about `file`."""
    raw = read_bytes(path)
    known_gz = path.suffix == ".gz" and file_digest(path, "md5") == file.gz_md5
    if not known_gz and file.raw_sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != file.raw_sha256:
            raise DataIntegrityError(
                f"{path} does not hold the expected {file.name} (sha256 of its content is "
                f"{actual}, expected {file.raw_sha256}); delete or replace it"
            )
    array = parse_idx(raw, source=str(path))
    if array.shape != file.shape:
        raise DataIntegrityError(
            f"{path} holds an array of shape {array.shape}, expected {file.shape} for "
            f"{file.name}; delete or replace it"
        )
    return array


def _locate(name: str, source: IdxSource, ctx: DataContext) -> dict[str, Path]:
    """Find every file of the dataset, downloading into the cache if allowed."""
    tried: list[str] = []
    places: list[tuple[str, Path]] = []
    if ctx.data_dir is not None:
        places.append(("data directory", ctx.data_dir))
    places.append(("cache", ctx.cache_dir / name))
    places.extend(("system install", Path(d)) for d in source.system_dirs)

    for label, directory in places:
        found = {}
        for role, file in source.files.items():
            hit = next((p for p in _candidates(directory, file) if p.is_file()), None)
            if hit is not None:
                found[role] = hit
        if len(found) == len(source.files):
            return found
        if found:
            missing = [f.name for r, f in source.files.items() if r not in found]
            tried.append(f"{label} {directory} (missing {', '.join(missing)})")
        else:
            tried.append(f"{label} {directory} (empty or absent)")
        if label == "data directory":
            # Files the user pointed at are not silently replaced by others.
            raise unavailable(name, tried, source.how_to_get)

    if not ctx.download:
        raise unavailable(name, [*tried, "download (disabled)"], source.how_to_get)
    cache = ctx.cache_dir / name
    paths = {}
    for role, file in source.files.items():
        errors = []
        for base in source.base_urls:
            url = base + file.name + ".gz"
            try:
                log.info("downloading %s", url)
                paths[role] = download(url, cache / (file.name + ".gz"), f"md5:{file.gz_md5}")
                break
            except DatasetUnavailableError as err:
                errors.append(str(err))
        else:
            tried.append(f"download ({'; '.join(errors)})")
            raise unavailable(name, tried, source.how_to_get)
    return paths


def _load_idx_dataset(name: str, source: IdxSource, ctx: DataContext):
    paths = _locate(name, source, ctx)
    arrays = {role: _check_idx(path, source.files[role]) for role, path in paths.items()}

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return (
        images(arrays["train_images"]),
        labels(arrays["train_labels"]),
        images(arrays["test_images"]),
        labels(arrays["test_labels"]),
    )


def _idx_availability(name: str, source: IdxSource):
    def availability(ctx: DataContext) -> str:
        dirs = [ctx.cache_dir / name, *(Path(d) for d in source.system_dirs)]
        if ctx.data_dir is not None:
            dirs.insert(0, ctx.data_dir)
        for directory in dirs:
            if all(
                any(p.is_file() for p in _candidates(directory, f)) for f in source.files.values()
            ):
                return "available"
        return "download"

    return availability


_IDX_COMMON = dict(
    modality="vision",
    kind="image",
    input_shape=(1, 28, 28),
    split="the published split: 60,000 train / 10,000 test",
    normalization="pixel values 0–255 divided by 255",
    sizes=(60000, 10000),
)

MNIST = DatasetInfo(
    name="mnist",
    classes=tuple(str(d) for d in range(10)),
    description="MNIST handwritten digits, 28×28 grey",
    source="original IDX files (LeCun, Cortes, Burges), fetched from public mirrors",
    offline=False,
    **_IDX_COMMON,
)

FASHION_MNIST = DatasetInfo(
    name="fashion-mnist",
    classes=(
        "t-shirt/top",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "ankle boot",
    ),
    description="Zalando's Fashion-MNIST article images, 28×28 grey",
    source="original IDX files (Xiao, Rasul, Vollgraf 2017); Debian's dataset-fashion-mnist",
    offline=True,
    **_IDX_COMMON,
)


@register_dataset(MNIST, availability=_idx_availability("mnist", MNIST_SOURCE))
def load_mnist(ctx: DataContext):
    return _load_idx_dataset("mnist", MNIST_SOURCE, ctx)


@register_dataset(FASHION_MNIST, availability=_idx_availability("fashion-mnist", FASHION_SOURCE))
def load_fashion_mnist(ctx: DataContext):
    return _load_idx_dataset("fashion-mnist", FASHION_SOURCE, ctx)


# -- CIFAR-10 -------------------------------------------------------------------------------------

CIFAR10_ARCHIVE = RemoteFile(
    "cifar-10-python.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
    "md5:c58f30108f718f92721af3b95e74349a",
)
CIFAR10_FOLDER = "cifar-10-batches-py"
# md5 of each pickled batch as published inside the archive, to check an extracted copy.
CIFAR10_BATCHES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_HOW = (
    "Download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and pass "
    "the directory that holds it (or its extracted cifar-10-batches-py folder) with --data-dir, "
    "or run where the network is reachable"
)

CIFAR10 = DatasetInfo(
    name="cifar10",
    modality="vision",
    kind="image",
    input_shape=(3, 32, 32),
    classes=(
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
    description="CIFAR-10 tiny colour images of ten object classes, 32×32 RGB",
    source="CIFAR-10 python version (Krizhevsky 2009), cs.toronto.edu",
    split="the published split: data_batch_1–5 (50,000 train) / test_batch (10,000 test)",
    normalization="pixel values 0–255 divided by 255, channels in RGB order",
    offline=False,
    sizes=(50000, 10000),
)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays only: a batch file cannot run code when loaded."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refers to {module}.{name}, which a CIFAR batch never holds"
            )
        return super().find_class(module, name)


def parse_cifar_batch(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one pickled CIFAR batch into images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    try:
        # latin1 turns the Python 2 strings of the original pickles into text, as numpy needs.
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DataIntegrityError(
            f"{source} is not a readable CIFAR batch ({err}); delete it and fetch it again"
        ) from None
    if not isinstance(batch, dict):
        raise DataIntegrityError(f"{source} is not a CIFAR batch (it holds a {type(batch)})")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataIntegrityError(
            f"{source} is not a CIFAR-10 batch: it has keys {sorted(batch)}, expected data and "
            "labels"
        )
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataIntegrityError(
            f"{source}: data has shape {data.shape} and dtype {data.dtype}, expected (N, 3072) "
            "uint8"
        )
    if len(labels) != len(data) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise DataIntegrityError(
            f"{source}: {len(labels)} labels for {len(data)} images, or labels outside 0–9"
        )
    return data.reshape(-1, 3, 32, 32), labels  # rows are R, G, B planes of 32×32


def read_cifar_archive(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every data and test batch inside a cifar-10-python.tar.gz, by batch name."""
    wanted = (*CIFAR10_TRAIN_BATCHES, "test_batch")
    batches = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in wanted:
                    raw = archive.extractfile(member).read()
                    batches[name] = parse_cifar_batch(raw, f"{path}:{member.name}")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise DataIntegrityError(
            f"{path} is a damaged or truncated tar.gz archive ({err}); delete it and fetch it again"
        ) from None
    missing = [name for name in wanted if name not in batches]
    if missing:
        raise DataIntegrityError(
            f"{path} lacks the CIFAR batches {', '.join(missing)}; it is not the CIFAR-10 python "
            "archive or it is truncated"
        )
    return batches


def read_cifar_folder(
    folder: Path, batch_md5: dict[str, str] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The batches of an extracted cifar-10-batches-py folder, each checked against its md5."""
    batches = {}
    for name in (*CIFAR10_TRAIN_BATCHES, "test_batch"):
        path = folder / name
        if batch_md5 is not None:
            verify_checksum(path, f"md5:{batch_md5[name]}")
        batches[name] = parse_cifar_batch(path.read_bytes(), str(path))
    return batches


def _cifar_folder(directory: Path) -> Path | None:
    for folder in (directory / CIFAR10_FOLDER, directory):
        if all((folder / name).is_file() for name in CIFAR10_BATCHES):
            return folder
    return None


def _cifar10_availability(ctx: DataContext) -> str:
    if ctx.data_dir is not None and _cifar_folder(ctx.data_dir) is not None:
        return "available"
    return "available" if is_present(ctx, "cifar10", CIFAR10_ARCHIVE) else "download"


@register_dataset(CIFAR10, availability=_cifar10_availability)
def load_cifar10(
    ctx: DataContext,
    archive: RemoteFile = CIFAR10_ARCHIVE,
    batch_md5: dict[str, str] | None = CIFAR10_BATCHES,
):
    """CIFAR-10 from an extracted folder in the data directory, or from the archive.

    `archive` and `batch_md5` say what the files must be (tests pass their own).
    """
    folder = _cifar_folder(ctx.data_dir) if ctx.data_dir is not None else None
    if folder is not None:
        batches = read_cifar_folder(folder, batch_md5)
    else:
        batches = read_cifar_archive(fetch(ctx, "cifar10", archive, CIFAR10_HOW))
    x_train = np.concatenate([batches[name][0] for name in CIFAR10_TRAIN_BATCHES])
    y_train = np.concatenate([batches[name][1] for name in CIFAR10_TRAIN_BATCHES])
    x_test, y_test = batches["test_batch"]

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32) / 255.0)  # (N, 3, 32, 32)

    return images(x_train), torch.from_numpy(y_train), images(x_test), torch.from_numpy(y_test)
