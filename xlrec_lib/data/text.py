"""The course's word rules, once: what counts as a CJK character, an English word, a Chinese word.

- CJK character: the CJK Unified Ideographs, Extension A and the Compatibility Ideographs
  (U+4E00-9FFF, U+3400-4DBF, U+F900-FAFF); kana, hangul and CJK punctuation are not.
- English word: a run of ASCII letters ``[A-Za-z]+``, lower-cased. CC-CEDICT's glosses are ASCII, so this is the
  rule for anything matched against the dictionary (lexicon, word frequencies, code-switching).
- Letter word (any alphabetic language: French "être", Russian "слово"): a run of letters of any script
  ``[^\\W\\d_]+``, lower-cased.
- Chinese word: a ``jieba`` word (precise mode, no HMM: deterministic and bound to jieba's dictionary) that
  contains at least one CJK character, so punctuation and Latin runs are left out.

``VERSION`` versions these rules in cache keys: a change that changes any function's output bumps it in the
same commit.
"""

from __future__ import annotations

import re

VERSION = 1
CJK = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"  # a regex character class
_CJK = re.compile(CJK)
ENGLISH_WORD = re.compile(r"[A-Za-z]+")
_LETTERS = re.compile(r"[^\W\d_]+")


def is_cjk(char: str) -> bool:
    """Whether ``char`` (one character) is a CJK ideograph."""
    return _CJK.fullmatch(char) is not None


def has_cjk(text: str) -> bool:
    """Whether ``text`` contains at least one CJK ideograph."""
    return _CJK.search(text) is not None


def cjk_chars(text: str) -> list[str]:
    """The CJK ideographs of ``text``, in order (the unit of length for Chinese and Japanese)."""
    return _CJK.findall(text)


def english_words(text: str) -> list[str]:
    """Lower-cased runs of ASCII letters: ``"God's Word"`` -> ``["god", "s", "word"]``."""
    return ENGLISH_WORD.findall(text.lower())


def is_english_word(word: str) -> bool:
    """Whether ``word`` is exactly one lower-case English word (``"king"`` yes; ``"Beijing"``, ``"a b"`` no)."""
    return ENGLISH_WORD.fullmatch(word) is not None and word.islower()


def letter_words(text: str) -> list[str]:
    """Lower-cased runs of letters of any script: ``"Être ou ne pas"`` -> ``["être", "ou", "ne", "pas"]``."""
    return _LETTERS.findall(text.lower())


def segment_zh(text: str) -> list[str]:
    """``jieba``'s segmentation of ``text``, every piece kept (punctuation too): ``"".join(...) == text``."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut(text, HMM=False)


def chinese_words(text: str) -> list[str]:
    """The ``jieba`` words of ``text`` that contain a CJK ideograph."""
    return [w for w in segment_zh(text) if has_cjk(w)]


def words(text: str, lang: str) -> list[str]:
    """Words of ``text`` in ``lang``: Chinese words for ``zh``, letter words for every other language."""
    if not isinstance(text, str):
        raise TypeError(f"words expects one text (str), got {type(text).__name__}")
    return chinese_words(text) if lang == "zh" else letter_words(text)


__all__ = ["VERSION", "CJK", "ENGLISH_WORD", "is_cjk", "has_cjk", "cjk_chars", "english_words", "is_english_word",
           "letter_words", "segment_zh", "chinese_words", "words"]
