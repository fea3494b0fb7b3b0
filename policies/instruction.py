"""Language instructions as hashed word ids: no downloaded text model.

An instruction is lower-cased, split into words (letters and digits), and each word is
mapped to one of ``buckets`` ids by a stable hash (CRC-32, the same in every process and
on every machine). The model embeds the ids and averages them (a bag of words), which is
enough to tell the tasks of a dataset apart. Id 0 is padding.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

#: Words kept per instruction; longer instructions are truncated.
MAX_WORDS = 24
_WORD = re.compile(r"[a-z0-9]+")


def words(instruction: str) -> list[str]:
    """Lower-case word tokens of ``instruction``."""
    return _WORD.findall(instruction.lower())[:MAX_WORDS]


def encode_instruction(instruction: str, buckets: int) -> np.ndarray:
    """(MAX_WORDS,) int64 word ids in [1, buckets), padded with 0."""
    ids = np.zeros(MAX_WORDS, dtype=np.int64)
    for i, w in enumerate(words(instruction)):
        ids[i] = 1 + zlib.crc32(w.encode()) % (buckets - 1)
    return ids
