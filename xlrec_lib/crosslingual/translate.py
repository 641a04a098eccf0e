"""Chinese -> English word-by-word translation through CC-CEDICT: the "translate everything first" route.

A sentence is segmented by ``jieba``; each word found in CC-CEDICT becomes one English word, a word that is not
found is looked up character by character, and what still has no entry is dropped (and counted). For a headword
with several translations we take the one most frequent in an English reference text (the course passes its
English training verses), because the first gloss of a dictionary entry is often not the sense a domain uses.

    >>> d = zh_en_dictionary(english_counts=Counter({"god": 10}))   # doctest: +SKIP
    >>> translate_zh_en("太初有道", d)                                # doctest: +SKIP
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from xlrec_lib.data.cedict import entry_candidates
from xlrec_lib.data.text import has_cjk, is_cjk, segment_zh


@dataclass
class TranslatedText:
    """The English text of one Chinese text and what the dictionary could not translate."""

    text: str
    words: int = 0  # Chinese words (with a CJK character) in the input; words without one are not counted
    by_character: int = 0  # words translated character by character
    dropped: list[str] = field(default_factory=list)  # characters without any entry


def zh_en_dictionary(entries=None, script: str = "simplified", english_counts: Counter | None = None
                     ) -> dict[str, str]:
    """Headword -> one English word or phrase, from all CC-CEDICT entries of that headword.

    Among the candidates (``xlrec_lib.data.cedict.entry_candidates`` of every entry, in dictionary order), the one
    with the highest count in ``english_counts`` wins, ties and unseen words going to the earliest; without counts,
    the first.
    """
    if entries is None:
        from xlrec_lib.data import cedict

        entries = cedict()
    if script not in ("simplified", "traditional"):
        raise ValueError(f"script must be 'simplified' or 'traditional', got {script!r}")
    candidates: dict[str, list[str]] = {}
    for head, glosses in zip(entries[script], entries["glosses"], strict=True):
        candidates.setdefault(head, []).extend(entry_candidates(glosses))
    counts = english_counts or Counter()
    out = {}
    for head, words in candidates.items():
        if words:  # max keeps the first of equal counts
            out[head] = max(words, key=lambda w: sum(counts.get(t, 0) for t in w.split()) / len(w.split()))
    return out


def _pass_through(piece: str, out: list[str]) -> None:
    """Append ``piece`` lower-cased in its NFKC form ("ＡＢ" -> "ab") if it holds a letter or a digit."""
    piece = unicodedata.normalize("NFKC", piece).lower()
    if any(ch.isalnum() for ch in piece):
        out.append(piece)


def translate_zh_en(text: str, dictionary: dict[str, str]) -> TranslatedText:
    """Word-by-word English for a Chinese ``text`` (see the module docstring); punctuation is dropped, and a word
    without any Chinese character that holds a letter or a digit ("3D", "iPhone") passes through lower-cased."""
    out, result = [], TranslatedText("")
    for word in segment_zh(text):
        if not has_cjk(word):
            _pass_through(word, out)
            continue
        result.words += 1
        if word in dictionary:
            out.append(dictionary[word])
            continue
        result.by_character += 1
        run = ""  # letters and digits inside a Chinese word ("A股", "4S店") pass through too
        for ch in word:
            if is_cjk(ch) or not ch.isalnum():
                _pass_through(run, out)
                run = ""
                if ch in dictionary:
                    out.append(dictionary[ch])
                elif is_cjk(ch):
                    result.dropped.append(ch)
            else:
                run += ch
        _pass_through(run, out)
    result.text = " ".join(out)
    return result


def translate_all(texts: Iterable[str], dictionary: dict[str, str], progress: bool = False) -> list[TranslatedText]:
    """``translate_zh_en`` of every text (a ``tqdm`` bar when ``progress``)."""
    texts = list(texts)
    return [translate_zh_en(t, dictionary) for t in tqdm(texts, desc="translate", disable=not progress)]


__all__ = ["TranslatedText", "zh_en_dictionary", "translate_zh_en", "translate_all"]
