"""Language centring: subtract each language's mean vector before a classifier trained in one language reads another.

A multilingual encoder's vectors carry a language identity as well as a meaning: the verses of one language sit
around their own mean, a little apart from the others' (Libovický, Rosa and Fraser, *On the Language Neutrality
of Pre-trained Multilingual Representations*, Findings of EMNLP 2020, remove it this way). A probe trained on
English vectors then sees every Chinese vector shifted by the same offset, mu_zh - mu_en, and that shift moves its
scores for every class. Centring takes the offset out::

    x' = x - mu_lang
    mu_lang: the mean of the encoder's vectors of unlabelled text in that language

The means need no labels, only text in each language (here: training-book verses, never test text). Whether it
helps is measured, not assumed: ``zero_shot_centring`` fits the same probe both ways and scores every language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

VARIANTS = ("as encoded", "centred")


def _finite_matrix(x, name: str) -> np.ndarray:
    """``x`` as a float array (float32 stays float32, so a probe fits exactly as on the encoder's own output)."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if x.ndim != 2 or not len(x):
        raise ValueError(f"{name} must be a non-empty (n, dim) matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or inf values; re-encode the texts")
    return x


def language_means(encode: Callable[[list[str]], object], texts: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """Each language's mean vector, ``{lang: (dim,)}``: ``encode(list[str]) -> (n, dim)`` run on ``texts[lang]``."""
    means = {}
    for lang, group in texts.items():
        vectors = _finite_matrix(encode(list(group)), f"the vectors of the {lang!r} texts")
        means[lang] = vectors.astype(np.float64).mean(axis=0)
    dims = {m.shape[0] for m in means.values()}
    if len(dims) > 1:
        raise ValueError(f"language_means: the languages' vectors have different sizes {sorted(dims)}")
    return means


def centre(x, mean) -> np.ndarray:
    """``x - mean``: ``(n, dim)`` minus ``(dim,)``, subtracted in float64 and returned in ``x``'s float type."""
    x, mean = _finite_matrix(x, "x"), np.asarray(mean, dtype=np.float64)
    if mean.shape != (x.shape[1],):
        raise ValueError(f"centre: mean has shape {mean.shape}, vectors have {x.shape[1]} dimensions")
    if not np.isfinite(mean).all():
        raise ValueError("centre: the mean holds NaN or inf values; re-encode the texts it was taken from")
    return (x.astype(np.float64) - mean).astype(x.dtype)


def lowest_ratio(scores: Mapping[str, float], source: str = "en") -> float:
    """min over the other languages of ``scores[lang] / scores[source]``: the zero-shot goal's statistic."""
    if source not in scores:
        raise ValueError(f"lowest_ratio: no {source!r} score among {sorted(scores)}")
    bad = {lang: v for lang, v in scores.items() if not np.isfinite(v)}
    if bad:
        raise ValueError(f"lowest_ratio: scores must be finite, got {bad}")
    if scores[source] <= 0:
        raise ValueError(f"lowest_ratio: the {source!r} score must be positive, got {scores[source]!r}")
    others = [lang for lang in scores if lang != source]
    if not others:
        raise ValueError(f"lowest_ratio: no language besides {source!r}")
    return min(scores[lang] / scores[source] for lang in others)


def zero_shot_centring(fit: Callable, score: Callable, train: tuple, valid: tuple, test: tuple,
                       means: Mapping[str, np.ndarray], source: str = "en",
                       fitted_as_encoded=None) -> tuple[pd.DataFrame, str]:
    """One probe fitted on the ``source`` language as encoded and one on centred vectors, each scored per language.

    ``train = (x, y)`` holds ``source``-language vectors; ``valid`` and ``test`` are ``({lang: (n, dim)}, y)``, the
    same texts in every language, so one ``y`` serves all. ``fit(x_train, y_train, x_valid, y_valid)`` returns a
    model with ``.predict`` (it may choose its own settings on the ``source`` validation vectors);
    ``score(y_true, y_pred) -> float``. Returns a frame indexed by ``(variant, split)`` with one column per language
    and ``lowest ratio`` (``lowest_ratio``), and the variant chosen on validation: the higher lowest ratio, ties
    kept as encoded. ``fitted_as_encoded``: the model ``fit`` returns on the vectors as encoded, when the caller
    already has it (fitting is deterministic), used instead of fitting it again.
    """
    langs = list(test[0])
    if source not in langs or set(valid[0]) != set(langs):
        raise ValueError(f"zero_shot_centring: valid has languages {sorted(valid[0])} and test {sorted(langs)}; "
                         f"both need the same ones, {source!r} among them")
    missing = [lang for lang in langs if lang not in means]
    if missing:
        raise ValueError(f"zero_shot_centring: no mean vector for {missing}")
    rows = {}
    for variant in VARIANTS:
        def prepare(x, lang, variant=variant):
            return _finite_matrix(x, f"{lang!r} vectors") if variant == "as encoded" else centre(x, means[lang])

        if variant == "as encoded" and fitted_as_encoded is not None:
            model = fitted_as_encoded
        else:
            model = fit(prepare(train[0], source), np.asarray(train[1]), prepare(valid[0][source], source),
                        np.asarray(valid[1]))
        for split, (feats, y) in (("valid", valid), ("test", test)):
            row = {lang: float(score(np.asarray(y), model.predict(prepare(feats[lang], lang)))) for lang in langs}
            try:
                rows[(variant, split)] = {**row, "lowest ratio": lowest_ratio(row, source)}
            except ValueError as err:
                raise ValueError(f"zero_shot_centring: {variant}, {split}: {err}") from None
    table = pd.DataFrame(rows).T
    table.index.names = ["variant", "split"]
    ratio = table.xs("valid", level="split")["lowest ratio"]
    chosen = "centred" if ratio["centred"] > ratio["as encoded"] else "as encoded"
    return table, chosen


__all__ = ["VARIANTS", "centre", "language_means", "lowest_ratio", "zero_shot_centring"]
