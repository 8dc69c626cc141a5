"""Text: the tokenizer, the AG News CSV, Debian's fortunes, and the cache of tokenized data."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from minaction.data import DataContext, dataset_availability, load_dataset
from minaction.data.files import RemoteFile
from minaction.data.text import (
    load_ag_news,
    read_ag_news_csv,
    read_fortune_file,
    split_fortunes,
)
from minaction.data.tokenizer import PAD, UNKNOWN, WordTokenizer
from minaction.errors import DataIntegrityError


def test_tokenizer_vocabulary_comes_from_training_texts_by_frequency():
    tokenizer = WordTokenizer.fit(["b a a", "c a b", "don't stop"], vocab_size=5)

    assert tokenizer.vocabulary == ("a", "b", "c")  # 3 = vocab_size minus padding and unknown
    tokens = tokenizer.encode(["A b zebra", "c c c c c c"], seq_len=4)

    assert tokens.dtype == np.int64 and tokens.shape == (2, 4)
    assert tokens[0].tolist() == [2, 3, UNKNOWN, PAD]  # padded at the end
    assert tokens[1].tolist() == [4, 4, 4, 4]  # cut to seq_len
    assert tokenizer.decode(tokens[0]) == "a b <unk>"


def test_tokenizer_keeps_inner_apostrophes_and_breaks_ties_alphabetically():
    tokenizer = WordTokenizer.fit(["Don't panic, zeta alpha"], vocab_size=10)

    assert tokenizer.vocabulary == ("alpha", "don't", "panic", "zeta")


def write_ag_news(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)


AG_TRAIN = [
    ("1", "Talks resume in Geneva", "Diplomats met again #39;today#39; \\ for peace talks."),
    ("2", "Late goal wins the cup", "The striker scored in the final minute."),
    ("3", "Shares rise on profit", "Stocks gained after a strong quarter &amp; outlook."),
    ("4", "New chip is faster", "Engineers unveiled a processor with more cores."),
    ("2", "Team signs keeper", "The club signed a goal keeper for the cup."),
]
AG_TEST = [("4", "Faster cores", "A processor with more cores."), ("1", "Peace", "Talks.")]


def test_ag_news_csv_is_read_with_its_escapes_undone(tmp_path):
    write_ag_news(tmp_path / "train.csv", AG_TRAIN)

    texts, labels = read_ag_news_csv(tmp_path / "train.csv")

    assert labels.tolist() == [0, 1, 2, 3, 1]
    assert texts[0] == "Talks resume in Geneva . Diplomats met again 'today'   for peace talks."
    assert "& outlook" in texts[2]


def test_ag_news_loads_as_tokens_from_a_data_dir(tmp_path):
    write_ag_news(tmp_path / "train.csv", AG_TRAIN)
    write_ag_news(tmp_path / "test.csv", AG_TEST)
    files = {s: RemoteFile(f"{s}.csv", ()) for s in ("train", "test")}
    ctx = DataContext.create(data_dir=tmp_path, cache_dir=tmp_path / "cache")

    x_train, y_train, x_test, y_test = load_ag_news(ctx, files=files)

    assert x_train.shape == (5, 64) and x_test.shape == (2, 64)
    assert y_train.tolist() == [0, 1, 2, 3, 1] and y_test.tolist() == [3, 0]
    # Test texts are encoded with the training vocabulary: "faster", "processor", "cores" ...
    assert (x_test[0] > UNKNOWN).sum() > 3
    assert len(list((ctx.cache_dir / "ag-news" / "derived").glob("*.npz"))) == 1


def test_ag_news_with_a_damaged_row_is_named(tmp_path):
    write_ag_news(tmp_path / "train.csv", [*AG_TRAIN, ("9", "only two")])

    with pytest.raises(DataIntegrityError, match=r"train.csv, row 6"):
        read_ag_news_csv(tmp_path / "train.csv")


def test_fortune_file_is_split_on_percent_lines(tmp_path):
    path = tmp_path / "food"
    path.write_text("Eat your greens.\n%\nA _\bb_\bo_\bl_\bd fortune.\n\t-- Someone\n%\n\n%\n")

    assert read_fortune_file(path) == ["Eat your greens.", "A bold fortune.\n\t-- Someone"]


def test_fortune_found_under_two_categories_is_dropped():
    train, _, test, _ = split_fortunes(
        {"food": ["Pie.", "Shared one."], "sports": ["Shared  one.", "Goal!"]}
    )

    assert sorted(train + test) == ["Goal!", "Pie."]


def test_tokenized_fortunes_are_cached_and_read_back(tmp_path, monkeypatch):
    if dataset_availability("fortunes", DataContext.create(cache_dir=tmp_path)) != "available":
        pytest.skip("Debian's fortunes package is not installed")
    first = load_dataset("fortunes", cache_dir=tmp_path)

    def fail(*args, **kwargs):
        raise AssertionError("the second load must read the cache, not tokenize again")

    monkeypatch.setattr(WordTokenizer, "fit", fail)
    second = load_dataset("fortunes", cache_dir=tmp_path)

    assert (first.x_train == second.x_train).all() and (first.y_test == second.y_test).all()


def test_corrupt_derived_file_is_rebuilt(tmp_path, caplog):
    write_ag_news(tmp_path / "train.csv", AG_TRAIN)
    write_ag_news(tmp_path / "test.csv", AG_TEST)
    files = {s: RemoteFile(f"{s}.csv", ()) for s in ("train", "test")}
    ctx = DataContext.create(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    expected = load_ag_news(ctx, files=files)
    (derived,) = (ctx.cache_dir / "ag-news" / "derived").glob("*.npz")
    derived.write_bytes(derived.read_bytes()[:100])  # truncated

    again = load_ag_news(ctx, files=files)

    assert f"derived data file {derived} is corrupt" in caplog.text
    assert all((a == b).all() for a, b in zip(expected, again, strict=True))
