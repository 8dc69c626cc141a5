"""Text datasets as token ids: AG News (downloaded CSV) and Debian's fortunes by category (offline).

Both are tokenized by `WordTokenizer` (word level, vocabulary from the training split only) into
(N, T) int64 ids with 0 = padding. The tokenized arrays are cached, keyed by the tokenizer
settings and a checksum of the source files, so the second load reads them back.
"""

from __future__ import annotations

import csv
import hashlib
import html
import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from minaction.data.cache import cached_arrays, files_digest
from minaction.data.files import RemoteFile, fetch, is_present
from minaction.data.registry import DataContext, DatasetInfo, register_dataset, unavailable
from minaction.data.tokenizer import WordTokenizer
from minaction.errors import DataIntegrityError

log = logging.getLogger(__name__)


def _tokenize(
    ctx: DataContext,
    dataset: str,
    content_key: str,
    read: Callable[[], tuple],
    vocab_size: int,
    seq_len: int,
):
    """Tokenize (train_texts, train_labels, test_texts, test_labels) from `read()`, cached."""
    params = {"tokenizer": "word", "vocab_size": vocab_size, "seq_len": seq_len}

    def build() -> dict[str, np.ndarray]:
        train_texts, y_train, test_texts, y_test = read()
        tokenizer = WordTokenizer.fit(train_texts, vocab_size)
        log.info("%s: %d words in the vocabulary", dataset, len(tokenizer.vocabulary))
        return {
            "x_train": tokenizer.encode(train_texts, seq_len),  # (N, T) int64
            "y_train": np.asarray(y_train, dtype=np.int64),
            "x_test": tokenizer.encode(test_texts, seq_len),
            "y_test": np.asarray(y_test, dtype=np.int64),
            "vocabulary": np.asarray(tokenizer.vocabulary, dtype=str),
        }

    arrays = cached_arrays(ctx, dataset, params, content_key, build)
    return tuple(torch.from_numpy(arrays[k]) for k in ("x_train", "y_train", "x_test", "y_test"))


# -- AG News --------------------------------------------------------------------------------------

AG_NEWS_VOCAB = 20000
AG_NEWS_SEQ_LEN = 64
_AG_BASE = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/"
AG_NEWS_FILES = {
    "train": RemoteFile(
        "train.csv", (_AG_BASE + "train.csv",), "md5:b1a00f826fdfbd249f79597b59e1dc12"
    ),
    "test": RemoteFile(
        "test.csv", (_AG_BASE + "test.csv",), "md5:d52ea96a97a2d943681189a97654912d"
    ),
}
AG_NEWS_HOW = (
    "Download train.csv and test.csv of the AG News topic classification set (Zhang, Zhao and "
    f"LeCun 2015; e.g. {_AG_BASE}) and pass their directory with --data-dir, or run where the "
    "network is reachable"
)

AG_NEWS = DatasetInfo(
    name="ag-news",
    modality="text",
    kind="tokens",
    input_shape=(AG_NEWS_SEQ_LEN,),
    classes=("world", "sports", "business", "sci/tech"),
    description="AG News: news titles and descriptions in four topics",
    source="AG's news corpus as the CSV of Zhang, Zhao & LeCun (2015)",
    split="the published split: 120,000 train / 7,600 test, 4 balanced classes",
    normalization=(
        f"title + description, lowercased words; vocabulary of the {AG_NEWS_VOCAB - 2} most "
        f"frequent training words (0 = padding, 1 = unknown); first {AG_NEWS_SEQ_LEN} words"
    ),
    offline=False,
    sizes=(120000, 7600),
    vocab_size=AG_NEWS_VOCAB,
)

_NUMERIC_ENTITY = re.compile(r"&?#(\d+);")


def clean_ag_news(text: str) -> str:
    """Undo the CSV's escapes: backslashes stand for line breaks, entities lost their '&'."""
    text = text.replace("\\", " ")
    text = _NUMERIC_ENTITY.sub(lambda m: chr(int(m.group(1))), text)
    return html.unescape(text.replace(" quot;", ' "'))


def read_ag_news_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """Texts and labels 0–3 of an AG News CSV (rows: class 1–4, title, description)."""
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if len(row) != 3 or not row[0].strip().isdigit() or not 1 <= int(row[0]) <= 4:
                raise DataIntegrityError(
                    f"{path}, row {line}: expected three fields (class 1–4, title, description), "
                    f"got {row[:3]!r}; the file is not the AG News CSV or it is damaged"
                )
            labels.append(int(row[0]) - 1)
            texts.append(clean_ag_news(row[1]) + " . " + clean_ag_news(row[2]))
    if not texts:
        raise DataIntegrityError(f"{path} holds no rows; delete it and fetch it again")
    return texts, np.asarray(labels, dtype=np.int64)


def _ag_news_availability(ctx: DataContext) -> str:
    present = all(is_present(ctx, "ag-news", f) for f in AG_NEWS_FILES.values())
    return "available" if present else "download"


@register_dataset(AG_NEWS, availability=_ag_news_availability)
def load_ag_news(ctx: DataContext, files: dict[str, RemoteFile] = AG_NEWS_FILES):
    paths = {split: fetch(ctx, "ag-news", f, AG_NEWS_HOW) for split, f in files.items()}

    def read():
        train_texts, y_train = read_ag_news_csv(paths["train"])
        test_texts, y_test = read_ag_news_csv(paths["test"])
        return train_texts, y_train, test_texts, y_test

    key = files_digest([paths["train"], paths["test"]])
    return _tokenize(ctx, "ag-news", key, read, AG_NEWS_VOCAB, AG_NEWS_SEQ_LEN)


# -- fortunes -------------------------------------------------------------------------------------

# NOTE: five topics chosen to be neutral (no politics, religion, ethnicity, gender or drugs) and
# far apart in vocabulary; nearby pairs such as computers/linux or science/computers are left
# out. The classes are unbalanced (computers holds about half the texts) because every fortune
# of a chosen file is kept.
FORTUNE_CATEGORIES = ("computers", "food", "law", "sports", "startrek")
FORTUNE_DIRS = ("/usr/share/games/fortunes",)
FORTUNES_VOCAB = 5000
FORTUNES_SEQ_LEN = 64
FORTUNES_HOW = (
    "Install Debian's package (apt-get install fortunes), or pass a directory holding the "
    f"fortune files {', '.join(FORTUNE_CATEGORIES)} with --data-dir"
)

FORTUNES = DatasetInfo(
    name="fortunes",
    modality="text",
    kind="tokens",
    input_shape=(FORTUNES_SEQ_LEN,),
    classes=FORTUNE_CATEGORIES,
    description="Debian's fortune cookies, classified by the file (topic) they come from",
    source="Debian package fortunes (fortune-mod data), /usr/share/games/fortunes",
    split=(
        "fixed by content: a fortune is in test when the sha256 of its whitespace-normalised "
        "text is 0 mod 5 (about 20%), so the split survives package updates"
    ),
    normalization=(
        f"lowercased words; vocabulary of the {FORTUNES_VOCAB - 2} most frequent training "
        f"words (0 = padding, 1 = unknown); first {FORTUNES_SEQ_LEN} words"
    ),
    offline=True,
    sizes=(1467, 361),
    vocab_size=FORTUNES_VOCAB,
)

_OVERSTRIKE = re.compile(r".\x08")


def read_fortune_file(path: Path) -> list[str]:
    """The fortunes of a strfile source: texts separated by lines holding a single '%'."""
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    text = _OVERSTRIKE.sub("", text)  # a few old fortunes underline by overstriking
    return [item.strip() for item in re.split(r"^%[ \t]*$", text, flags=re.M) if item.strip()]


def is_test_fortune(text: str) -> bool:
    normalised = " ".join(text.split())
    return int(hashlib.sha256(normalised.encode()).hexdigest()[:8], 16) % 5 == 0


def _fortune_dir(ctx: DataContext) -> Path | None:
    dirs = [ctx.data_dir] if ctx.data_dir is not None else [Path(d) for d in FORTUNE_DIRS]
    for directory in dirs:
        if all((directory / name).is_file() for name in FORTUNE_CATEGORIES):
            return directory
    return None


def _fortunes_availability(ctx: DataContext) -> str:
    return "available" if _fortune_dir(ctx) is not None else "missing"


def split_fortunes(
    by_category: dict[str, list[str]],
) -> tuple[list[str], list[int], list[str], list[int]]:
    """Label, deduplicate and split fortunes; a text found under two categories is dropped."""
    seen: dict[str, set[int]] = {}
    for label, texts in enumerate(by_category.values()):
        for text in texts:
            seen.setdefault(" ".join(text.split()), set()).add(label)
    train_texts, y_train, test_texts, y_test = [], [], [], []
    for normalised, labels in seen.items():
        if len(labels) != 1:
            continue
        (label,) = labels
        if is_test_fortune(normalised):
            test_texts.append(normalised)
            y_test.append(label)
        else:
            train_texts.append(normalised)
            y_train.append(label)
    return train_texts, y_train, test_texts, y_test


@register_dataset(FORTUNES, availability=_fortunes_availability)
def load_fortunes(ctx: DataContext):
    directory = _fortune_dir(ctx)
    if directory is None:
        where = [ctx.data_dir] if ctx.data_dir is not None else list(FORTUNE_DIRS)
        tried = [f"{d} (needs the files {', '.join(FORTUNE_CATEGORIES)})" for d in where]
        raise unavailable("fortunes", tried, FORTUNES_HOW)
    paths = [directory / name for name in FORTUNE_CATEGORIES]

    def read():
        return split_fortunes({p.name: read_fortune_file(p) for p in paths})

    return _tokenize(ctx, "fortunes", files_digest(paths), read, FORTUNES_VOCAB, FORTUNES_SEQ_LEN)
