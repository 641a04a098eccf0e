"""The course's pretraining corpus and its held-out books.

Every chapter that trains on verses holds out the same whole books, so that no evaluation verse (nor its
translation) is ever seen in training: Mark (book 41) for validation, John (book 43) for test, and Psalms (book 19),
which only chapter 9 evaluates on: John alone holds 342 verses with a cross-reference, and chapter 9's related-verse
test needs at least a thousand queries (John and Psalms hold 1,168 in the six-language catalogue). ``book_split``
marks Psalms ``"held"``: in no training split, and apart from John, so that chapters 3 to 5 still measure on John.
Text is the verse-aligned Bible (public-domain translations, Chinese in simplified script via OpenCC),
plus, for training only, the Chinese product reviews and the MovieLens titles.
"""

from __future__ import annotations

import random

import pandas as pd

# the splits, texts and translation pairs below (next_sentence_pairs has its own version, next line); a change that
# changes what they return bumps it in the same commit
VERSION = 2  # 2: Psalms held out of training too (split "held")
# next_sentence_pairs, for the keys of the models trained on its pairs (lm.pretrained, NSP objectives only): 2 pairs a
# verse only with the very next verse id (1 paired neighbouring rows of a chapter, which bridged the verses some
# translations lack, 66 places in the six-language corpus, and after a subsample could be verses apart). Only NSP
# models read these pairs, so the change leaves VERSION, and every other model's key, as they were.
NSP_PAIRS_VERSION = 2
VALID_BOOKS = (41,)  # Mark
TEST_BOOKS = (43,)  # John
HELD_BOOKS = (19,)  # Psalms: held out of every training step, chapter 9's test queries with John
HELD_OUT_BOOKS = VALID_BOOKS + TEST_BOOKS + HELD_BOOKS  # every book no training step may read
RELATED_TEST_BOOKS = TEST_BOOKS + HELD_BOOKS  # chapter 9's test queries (rec.related_verses): John and Psalms
PRETRAIN_LANGS = ("en", "zh", "fr", "es", "de", "ru")


def book_split(verse_ids: pd.Series) -> pd.Series:
    """``"train"``, ``"valid"``, ``"test"`` or ``"held"`` for each verse id, by book (``verse_id // 1_000_000``)."""
    book = verse_ids // 1_000_000
    return pd.Series("train", index=verse_ids.index).mask(book.isin(VALID_BOOKS), "valid").mask(
        book.isin(TEST_BOOKS), "test").mask(book.isin(HELD_BOOKS), "held")


def versions() -> dict:
    """What the corpus's text depends on, for cache keys: this module's ``VERSION``, the verse reader's
    (``xlrec_lib.data.bible.VERSION``) and the sha256 of every pinned archive the text comes from."""
    from xlrec_lib.data import bible
    from xlrec_lib.data.sources import get_source

    return {"corpus": VERSION, "bible": bible.VERSION,
            "archives": {name: get_source(name).sha256 for name in ("bible", "cuv", "reviews", "movielens")}}


def load_verses(langs: tuple[str, ...] = PRETRAIN_LANGS) -> pd.DataFrame:
    """Verse-aligned text in ``langs`` (Chinese simplified) with a ``split`` column."""
    from xlrec_lib.data import parallel_verses

    verses = parallel_verses(tuple(langs), script="simplified")
    return verses.assign(split=book_split(verses["verse_id"]))


def extra_training_texts() -> dict[str, list[str]]:
    """Non-Bible text for training only: Chinese reviews (train split) and MovieLens titles (English)."""
    from xlrec_lib.data import chinese_reviews, movielens_100k

    return {"zh": chinese_reviews("train")["text"].tolist(), "en": movielens_100k().items["title"].tolist()}


def monolingual_texts(verses: pd.DataFrame, langs, split: str, extra: dict[str, list[str]] | None = None
                      ) -> dict[str, list[str]]:
    """``{lang: texts}`` of one split; ``extra`` texts are appended to their language (training only)."""
    part = verses[verses["split"] == split]
    texts = {lang: part[lang].tolist() for lang in langs}
    for lang, more in (extra or {}).items():
        if lang in texts:
            texts[lang] = texts[lang] + list(more)
    return texts


def translation_pairs(verses: pd.DataFrame, langs, split: str, pivot: str = "en", seed: int = 0
                      ) -> dict[str, list[tuple[str, str]]]:
    """For translation language modelling: ``{"en-zh": [(a, b), ...], ...}``, pivot against every other
    language; each pair is put in a random order (seeded) so that neither language is always first."""
    part = verses[verses["split"] == split]
    rng = random.Random(seed)
    pairs = {}
    for lang in langs:
        if lang == pivot:
            continue
        rows = list(zip(part[pivot], part[lang], strict=True))
        pairs[f"{pivot}-{lang}"] = [(a, b) if rng.random() < 0.5 else (b, a) for a, b in rows]
    return pairs


def next_sentence_pairs(verses: pd.DataFrame, lang: str, split: str, seed: int = 0
                        ) -> list[tuple[str, str, int]]:
    """For next-sentence prediction: ``(a, b, label)`` with label 0 when b is the verse right after a (the next
    verse number of the same chapter) and 1 when b is a random verse of the split (half each, seeded; the labels of
    ``BertForPreTraining``). A verse whose next verse is not in ``verses`` (the end of a chapter, or a verse a
    subsample left out) starts no pair, so a subsample never passes off two verses apart as a continuation."""
    part = verses[verses["split"] == split].sort_values("verse_id").reset_index(drop=True)
    rng = random.Random(seed)
    ids = part["verse_id"].to_numpy()
    out = []
    for i in range(len(part) - 1):
        if ids[i + 1] != ids[i] + 1:  # verse ids are book * 10**6 + chapter * 10**3 + verse
            continue
        if rng.random() < 0.5:
            out.append((part.at[i, lang], part.at[i + 1, lang], 0))
        else:
            j = rng.randrange(len(part))
            while abs(j - i) <= 1:
                j = rng.randrange(len(part))
            out.append((part.at[i, lang], part.at[j, lang], 1))
    return out
