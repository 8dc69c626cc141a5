"""A word-level tokenizer with a fixed vocabulary, built from a training split only.

    tokenizer = WordTokenizer.fit(train_texts, vocab_size=20000)
    tokens = tokenizer.encode(texts, seq_len=64)      # (N, 64) int64, 0 = padding

Text is lowercased and split into words: runs of letters and digits, with an inner apostrophe
kept ("don't" is one word). Id 0 is padding, id 1 stands for every word outside the vocabulary,
and ids 2.. go to the `vocab_size - 2` most frequent training words (ties in alphabetical
order, so the vocabulary does not depend on the order of the texts). A text longer than
`seq_len` words keeps its first `seq_len`; a shorter one is padded with 0 at the end.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# NOTE: words are ASCII letters and digits; accented letters split a word ("café" → "caf").
# Right for the English corpora here; a Unicode-aware pattern would be needed for others.
PAD = 0
UNKNOWN = 1
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class WordTokenizer:
    """`vocabulary[i]` is the word of id i + 2."""

    vocabulary: tuple[str, ...]
    vocab_size: int

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int) -> WordTokenizer:
        if vocab_size < 3:
            raise ValueError(
                f"vocab_size must be at least 3 (padding, unknown, a word), got {vocab_size}"
            )
        counts = Counter(word for text in texts for word in words(text))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return cls(tuple(word for word, _ in ranked[: vocab_size - 2]), vocab_size)

    def encode(self, texts: Sequence[str], seq_len: int) -> np.ndarray:
        """Token ids (N, seq_len) int64."""
        index = {word: i + 2 for i, word in enumerate(self.vocabulary)}
        tokens = np.full((len(texts), seq_len), PAD, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [index.get(word, UNKNOWN) for word in words(text)[:seq_len]]
            tokens[row, : len(ids)] = ids
        return tokens

    def decode(self, tokens: Sequence[int]) -> str:
        """The words of a row of ids, padding dropped and unknown words shown as <unk>."""
        out = []
        for token in tokens:
            if token == PAD:
                continue
            out.append("<unk>" if token == UNKNOWN else self.vocabulary[token - 2])
        return " ".join(out)
