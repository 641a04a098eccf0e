"""Dictionary code-switching: the offline stand-in for back-translation (seed 002) in contrastive alignment.

Back-translation needs a translation model; a bilingual dictionary gives a cheaper, offline relative: replace a
share of the words of a sentence by their dictionary translations, so that the model sees the two languages in
one context (as in CoSDA-ML, Qin et al. 2020). Words follow ``xlrec_lib.data.text``: English words are ASCII letter
runs (looked up lower-cased), Chinese words come from ``jieba``. Only the *training* split of the lexicon is used,
so the word-translation test words stay unseen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from xlrec_lib.data.text import ENGLISH_WORD, segment_zh

VERSION = 1  # the switching rules below; a change that changes their output bumps it in the same commit


def lexicon_dict(pairs, reverse: bool = False) -> dict[str, list[str]]:
    """``{source: [targets...]}`` of a lexicon frame (``source, target``); ``reverse`` maps target -> sources."""
    src, tgt = ("target", "source") if reverse else ("source", "target")
    out: dict[str, list[str]] = {}
    for s, t in zip(pairs[src], pairs[tgt], strict=True):
        out.setdefault(s, []).append(t)
    return out


def code_switch_en(text: str, en_zh: dict[str, list[str]], rate: float, rng: np.random.Generator) -> str:
    """Each English word with an entry is replaced, with probability ``rate``, by one of its Chinese translations
    (drawn uniformly)."""
    def swap(m: re.Match) -> str:
        options = en_zh.get(m.group(0).lower())
        if options and rng.random() < rate:
            return options[rng.integers(len(options))]
        return m.group(0)

    return ENGLISH_WORD.sub(swap, text)


def code_switch_zh(text: str, zh_en: dict[str, list[str]], rate: float, rng: np.random.Generator) -> str:
    """Each ``jieba`` word of a Chinese text with an entry is replaced, with probability ``rate``, by one of its
    English translations, with spaces around it."""
    out = []
    for word in segment_zh(text):
        options = zh_en.get(word)
        if options and rng.random() < rate:
            out.append(f" {options[rng.integers(len(options))]} ")
        else:
            out.append(word)
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def code_switcher(pairs, rate: float = 0.3, share: float = 0.5) -> Callable:
    """An ``augment`` hook for ``xlrec_lib.crosslingual.contrastive.train_contrastive``: in each batch, ``share``
    of the English sentences and ``share`` of the Chinese ones are code-switched at ``rate``; the pairing is
    unchanged.

    ``pairs``: the English -> Chinese training lexicon (``bilingual_lexicon("train")``).
    """
    if not 0 <= rate <= 1 or not 0 <= share <= 1:
        raise ValueError(f"rate and share must lie in [0, 1], got rate={rate}, share={share}")
    en_zh, zh_en = lexicon_dict(pairs), lexicon_dict(pairs, reverse=True)

    def augment(src: Sequence[str], tgt: Sequence[str], rng: np.random.Generator) -> tuple[list[str], list[str]]:
        a = [code_switch_en(t, en_zh, rate, rng) if rng.random() < share else t for t in src]
        b = [code_switch_zh(t, zh_en, rate, rng) if rng.random() < share else t for t in tgt]
        return a, b

    return augment


__all__ = ["lexicon_dict", "code_switch_en", "code_switch_zh", "code_switcher"]
