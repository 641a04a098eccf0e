"""Topic classification with real labels offline: a verse's label is its book's canonical group.

The seeds fine-tune on news categories (seed 002) that the course cannot ship; the Bible's books fall into groups
that every edition prints in its table of contents, so each of the 31,102 verses, in every translation, carries a
topic label for free. The traditional Protestant grouping has ten groups; two of them hold a single book, and a
one-book class would be learned as "this book" rather than as a kind of text, so each is merged into its neighbour:

- Acts (the one book of church history) joins the gospels: the same narrative prose, and Luke wrote both Luke and Acts;
- Revelation (the one apocalypse) joins the general epistles: it is framed as a letter to seven churches (Rev 1-3).

Hebrews, whose author is unnamed, is counted with the general epistles (as most modern tables do), not with Paul.

Splits are by whole book, never by verse: neighbouring verses share names, places and whole phrases, so a random verse
split would let a model answer from memorised names. Each group holds out one book for validation and another for
test (``HELD_OUT``); the gospels keep the course's own held-out books (Mark for validation, John for test, as in
``xlrec_lib.lm.corpus``), and Psalms, which the course holds out of every training step for chapter 9's test queries
(``corpus.HELD_BOOKS``), is in no split here (``"held"``): wisdom and poetry train on Job and Proverbs. Data floor:
pandas and numpy only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# groups, held-out books and topic_verses below; a change of what they return bumps it (2: Psalms "held")
VERSION = 2

# group name -> (first book, last book), in canonical order (book numbers as in xlrec_lib.data.bible: Genesis = 1)
GROUPS: dict[str, tuple[int, int]] = {
    "law": (1, 5),
    "history": (6, 17),
    "wisdom and poetry": (18, 22),
    "major prophets": (23, 27),
    "minor prophets": (28, 39),
    "gospels and acts": (40, 44),  # Acts (44), a group of one book, merged into its neighbour
    "Pauline epistles": (45, 57),
    "general epistles and revelation": (58, 66),  # Hebrews 58; Revelation (66), a group of one book, merged
}
CLASSES: tuple[str, ...] = tuple(GROUPS)
MERGED = {"acts": "gospels and acts", "revelation": "general epistles and revelation"}

# group -> (validation book, test book): mid-sized books, typical of their group
HELD_OUT: dict[str, tuple[int, int]] = {
    "law": (3, 5),  # Leviticus, Deuteronomy
    "history": (8, 17),  # Ruth, Esther
    "wisdom and poetry": (22, 21),  # Song of Solomon, Ecclesiastes
    "major prophets": (25, 27),  # Lamentations, Daniel
    "minor prophets": (28, 30),  # Hosea, Amos
    "gospels and acts": (41, 43),  # Mark, John (the course's validation and test books, lm.corpus)
    "Pauline epistles": (50, 48),  # Philippians, Galatians
    "general epistles and revelation": (60, 59),  # 1 Peter, James
}
VALID_BOOKS = tuple(v for v, _ in HELD_OUT.values())
TEST_BOOKS = tuple(t for _, t in HELD_OUT.values())
HELD_BOOKS = (19,)  # Psalms, as lm.corpus.HELD_BOOKS (a test checks that they agree): in no split


def book_label(books) -> np.ndarray:
    """Class index (position in ``CLASSES``) of each book number 1..66; anything else is a ``ValueError``."""
    books = np.asarray(books)
    if books.dtype.kind not in "iu":
        raise ValueError(f"book_label: books must be integer book numbers 1..66, got dtype {books.dtype}")
    bad = (books < 1) | (books > 66)
    if bad.any():
        raise ValueError(f"book_label: book {books[bad].flat[0]} is not a book number 1..66")
    lasts = np.array([last for _, last in GROUPS.values()])
    return np.searchsorted(lasts, books)


def book_split(books) -> np.ndarray:
    """``"train"``, ``"valid"``, ``"test"`` or ``"held"`` (``HELD_BOOKS``) of each book number (whole books)."""
    books = np.asarray(books)
    split = np.where(np.isin(books, VALID_BOOKS), "valid", "train")
    return np.where(np.isin(books, HELD_BOOKS), "held", np.where(np.isin(books, TEST_BOOKS), "test", split))


def label_verses(verses: pd.DataFrame) -> pd.DataFrame:
    """``verses`` (with a ``verse_id`` column) plus ``book_no``, ``label`` (class index), ``topic`` and ``split``."""
    if "verse_id" not in verses:
        raise ValueError(f"label_verses: verses needs a verse_id column, got columns {list(verses.columns)}")
    books = (verses["verse_id"].to_numpy() // 1_000_000).astype(np.int64)
    labels = book_label(books)
    return verses.assign(book_no=books, label=labels, topic=np.asarray(CLASSES, dtype=object)[labels],
                         split=book_split(books))


def topic_verses(langs: tuple[str, ...] = ("en", "zh", "fr", "es", "de", "ru")) -> pd.DataFrame:
    """Verse-aligned text in ``langs`` (Chinese simplified) with ``book_no, label, topic, split`` (see module doc)."""
    from xlrec_lib.data.bible import parallel_verses

    return label_verses(parallel_verses(tuple(langs), script="simplified"))


def sample_per_book(frame: pd.DataFrame, cap: int | None, seed: int = 0) -> pd.DataFrame:
    """At most ``cap`` verses of each book (a seeded uniform sample; all when the book is smaller or ``cap`` is
    None), in verse order: a cheaper evaluation set that still covers every held-out book."""
    if cap is None:
        return frame
    if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1:
        raise ValueError(f"sample_per_book: cap must be a positive integer or None, got {cap!r}")
    parts = [g.sample(min(cap, len(g)), random_state=seed) for _, g in frame.groupby("book_no", sort=True)]
    return pd.concat(parts).sort_values("verse_id")


def few_shot(frame: pd.DataFrame, per_class: int, seed: int = 0) -> pd.DataFrame:
    """``per_class`` verses of each class drawn (seeded) from ``frame``; a class with fewer is a ``ValueError``."""
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ValueError(f"few_shot: per_class must be a positive integer, got {per_class!r}")
    counts = frame["label"].value_counts()
    short = [CLASSES[c] for c in range(len(CLASSES)) if counts.get(c, 0) < per_class]
    if short:
        raise ValueError(f"few_shot: classes {short} have fewer than per_class={per_class} verses")
    parts = [g.sample(per_class, random_state=seed + c) for c, g in frame.groupby("label", sort=True)]
    return pd.concat(parts).sort_values("verse_id")


__all__ = ["VERSION", "GROUPS", "CLASSES", "MERGED", "HELD_OUT", "VALID_BOOKS", "TEST_BOOKS", "HELD_BOOKS",
           "book_label", "book_split", "label_verses", "topic_verses", "sample_per_book", "few_shot"]
