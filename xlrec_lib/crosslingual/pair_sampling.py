"""Which translation pairs a multilingual alignment trains on, and how often each language is drawn.

Two choices, as in XLM (Conneau and Lample, 2019):

- the **pair mix**: English-pivot pairs only (en-X for every other language X), or every pair of languages;
- the **language sampling**: each language gets a weight ``q_l = n_l^alpha / sum_k n_k^alpha``, where
  ``n_l`` is the size of l's text (``lm.tokenization.language_sampling_probs``, which pretraining uses too;
  ``alpha = 0``: uniform; ``alpha = 1``: proportional to size; XLM samples with ``alpha = 0.5``). A pair (a, b) is
  drawn with probability proportional to ``q_a * q_b``; with the pivot mix the pivot's ``q`` is common to every
  pair and cancels, so en-X is drawn in proportion to ``q_X``.

Pairs come from one split only (``train``: the held-out books never enter), and a verse appears at most once per
language pair until that pair has used every verse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

MIXES = ("pivot", "all")

VERSION = 1  # the pair sampling below; a change that changes the pairs drawn bumps it in the same commit


def language_pairs(langs: Sequence[str], mix: str = "pivot", pivot: str = "en") -> list[tuple[str, str]]:
    """The language pairs to train on: ``[(pivot, X), ...]`` for ``mix="pivot"``, every unordered pair of
    ``{pivot} | langs`` for ``mix="all"`` (``k`` languages give ``k (k - 1) / 2`` pairs)."""
    if mix not in MIXES:
        raise ValueError(f"mix must be one of {MIXES}, not {mix!r}")
    others = [lang for lang in dict.fromkeys(langs) if lang != pivot]
    if not others:
        raise ValueError(f"language_pairs needs at least one language besides the pivot {pivot!r}; got {list(langs)}")
    if mix == "pivot":
        return [(pivot, lang) for lang in others]
    return list(combinations([pivot, *others], 2))


def pair_probabilities(pairs: Sequence[tuple[str, str]], lang_probs: Mapping[str, float]
                       ) -> dict[tuple[str, str], float]:
    """Probability of each pair, proportional to ``q_a * q_b`` (normalised over ``pairs``)."""
    missing = sorted({lang for pair in pairs for lang in pair} - set(lang_probs))
    if missing:
        raise ValueError(f"pair_probabilities: no probability for {missing}")
    bad = {lang: p for lang, p in lang_probs.items() if not (np.isfinite(p) and p >= 0)}
    if bad:
        raise ValueError(f"pair_probabilities: language probabilities must be finite and >= 0, got {bad}")
    weights = {pair: lang_probs[pair[0]] * lang_probs[pair[1]] for pair in pairs}
    total = sum(weights.values())
    if not total > 0:
        raise ValueError(f"pair_probabilities: every pair of {list(pairs)} has probability 0")
    return {pair: w / total for pair, w in weights.items()}


@dataclass(frozen=True)
class PairSample:
    """Training pairs: ``src[i]`` and ``tgt[i]`` are one verse in the languages ``pair[i]`` (e.g. ``"en-zh"``)."""

    src: list[str]
    tgt: list[str]
    pair: list[str]
    verse_id: np.ndarray  # (n,)

    def shares(self) -> pd.Series:
        """Share of the sample drawn from each language pair (pairs never drawn are absent)."""
        return pd.Series(self.pair).value_counts(normalize=True).rename("share")


def sample_pairs(verses: pd.DataFrame, pairs: Sequence[tuple[str, str]], probs: Mapping[tuple[str, str], float],
                 n: int, seed: int = 0, split: str = "train") -> PairSample:
    """``n`` translation pairs from the ``split`` rows of ``verses`` (a frame with ``verse_id``, ``split`` and one
    text column per language), shuffled together.

    The number of pairs of each language pair is a multinomial draw with ``probs``; within a language pair the
    verses are taken in a seeded random order, each at most once until all have been used. The ``"train"`` split
    must hold no verse of a held-out book (``lm.corpus.HELD_OUT_BOOKS``: Mark, John, Psalms), and every text drawn
    from must be a non-blank string: a ValueError names the book, or the column and verse, otherwise.
    """
    from xlrec_lib.lm import corpus

    missing_cols = [c for c in ("verse_id", "split") if c not in verses.columns]
    if missing_cols:
        raise ValueError(f"sample_pairs: verses have no column {missing_cols}; build them with lm.corpus.load_verses")
    part = verses[verses["split"] == split]
    if part.empty:
        raise ValueError(f"sample_pairs: no verses in split {split!r}")
    if split == "train":
        held = part["verse_id"] // 1_000_000
        leak = held.isin(corpus.HELD_OUT_BOOKS)
        if leak.any():
            raise ValueError(f"sample_pairs: the train split holds {int(leak.sum())} verses of held-out book "
                             f"{int(held[leak].iloc[0])} (verse {int(part['verse_id'][leak].iloc[0])}): set the "
                             "split column with lm.corpus.book_split")
    langs = sorted({lang for pair in pairs for lang in pair})
    missing = [lang for lang in langs if lang not in part.columns]
    if missing:
        raise ValueError(f"sample_pairs: verses have no column for {missing}; load them with those languages")
    for lang in langs:
        ok = part[lang].map(lambda t: isinstance(t, str) and bool(t.strip()))
        if not ok.all():
            raise ValueError(f"sample_pairs: column {lang!r} has no text for verse "
                             f"{int(part['verse_id'][~ok].iloc[0])} ({int((~ok).sum())} verses): drop those verses "
                             "or load them from a translation that has them")
    p = np.array([probs[pair] for pair in pairs], dtype=float)
    if n < 1 or not np.isclose(p.sum(), 1.0) or (p < 0).any():
        raise ValueError(f"sample_pairs needs n >= 1 and probabilities that sum to 1; got n={n}, sum={p.sum()}")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, p)
    ids = part["verse_id"].to_numpy()
    src, tgt, names, verse_ids = [], [], [], []
    for (a, b), count in zip(pairs, counts, strict=True):
        if count == 0:  # a pair with probability 0, or fewer draws than pairs
            continue
        rows = np.concatenate([rng.permutation(len(part)) for _ in range(-(-count // len(part)))])[:count]
        src += part[a].to_numpy()[rows].tolist()
        tgt += part[b].to_numpy()[rows].tolist()
        names += [f"{a}-{b}"] * count
        verse_ids.append(ids[rows])
    order = rng.permutation(n)
    verse_id = np.concatenate(verse_ids)[order]
    return PairSample([src[i] for i in order], [tgt[i] for i in order], [names[i] for i in order], verse_id)


__all__ = ["MIXES", "language_pairs", "pair_probabilities", "PairSample", "sample_pairs"]
