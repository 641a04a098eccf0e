"""Every translation as one catalogue: the scale test of related-verse search.

``data.bible.every_translation`` stacks the 32 translations of the sources (31 of ``bible.db`` and the CUV), about
993,000 verses. Encoded once with one encoder (each translation cached on its own through ``cached_encode``, so an
interrupted run resumes), they make one catalogue of unit rows ``(n, dim)`` float32, the size at which an
approximate index (``rec.ann``) starts to matter on one machine. The test books are left out of it by default
(``exclude_books``): their verses are the queries, searched against everything else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from xlrec_lib.data.bible import book_numbers, every_translation
from xlrec_lib.encoders.protocol import Encoder, cached_encode
from xlrec_lib.lm import corpus


def encode_every_translation(encoder: Encoder, exclude_books=corpus.RELATED_TEST_BOOKS, script: str = "simplified",
                             progress: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """``(rows, vectors)``: every verse of every translation outside ``exclude_books`` (book numbers; default
    ``corpus.RELATED_TEST_BOOKS``, John and Psalms, chapter 9's test books; ``()`` keeps every book), as ``rows``
    (``code, lang, verse_id, text``; row ``i`` is vector ``i``) and ``vectors (n, dim)`` float32 unit rows
    (C-contiguous, ready for ``rec.ann``). ``script``: the CUV's script (``"simplified"``, as the course tokenizer
    reads it). ``rows.attrs["placeholders"]`` keeps ``every_translation``'s counts of verses without text (over every
    book)."""
    books = np.asarray(book_numbers(exclude_books, "exclude_books"), dtype=np.int64)
    every = every_translation(script)
    rows = every[~np.isin(every["verse_id"] // 1_000_000, books)].reset_index(drop=True)
    rows.attrs = dict(every.attrs)
    vectors = None
    positions = rows.groupby("code", sort=False).indices  # code -> its row positions, in order of appearance
    for at in tqdm(positions.values(), desc="encode translations", disable=not progress):
        part = cached_encode(encoder, rows["text"].iloc[at].tolist()).numpy()
        if vectors is None:  # one array for all: ~0.5 GB for a million rows of 128 dims, never copied
            vectors = np.empty((len(rows), part.shape[1]), dtype=np.float32)
        vectors[at] = part
    return rows, vectors if vectors is not None else np.empty((0, 0), np.float32)


__all__ = ["encode_every_translation"]
