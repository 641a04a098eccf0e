"""Frozen features + logistic regression (a linear probe), and the TF-IDF character n-gram baseline.

The cheap alternative to fine-tuning: encode every text once with a frozen encoder and fit a logistic regression on
the vectors. Its C (the inverse of the L2 penalty's strength: a larger C regularises less) is chosen on the
validation split, never on test: ``probe`` fits one model per C in ``cs`` (scikit-learn's ``LogisticRegression``,
lbfgs, multinomial for K > 2 classes) and keeps the one with the best validation score (``select``: ``"accuracy"``
or ``"macro_f1"``; of equal scores the smallest C). Each C is a fresh fit, so a probe is the same model as
scikit-learn's own at that C (lbfgs stops at a tolerance, and a fit warm-started from another C's weights stops
elsewhere). ``init`` starts every fit from another probe's weights instead: for a few-shot refit on a few more rows,
where starting from the old weights is the purpose (a cold fit on the anisotropic mean-pooled vectors of a small
BERT takes hundreds of lbfgs steps).

``tfidf_char_probe`` is the same probe on TF-IDF vectors of character 1-3-grams (sublinear tf, l2 rows): for Chinese,
where words are not separated by spaces, characters and their short runs are the strong bag-of-words baseline that
any neural model must beat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CS = (0.01, 0.1, 1.0, 10.0, 100.0)


@dataclass
class Probe:
    """A fitted probe: the chosen ``C``, its model (``predict``, ``predict_proba``, ``decision_function``), the
    validation score of every C (``scores``), and, for TF-IDF probes, the ``vectorizer``."""

    C: float
    model: object
    scores: pd.Series
    vectorizer: object = field(default=None)

    def features(self, x):
        return self.vectorizer.transform(list(x)) if self.vectorizer is not None else np.asarray(x)

    def predict(self, x) -> np.ndarray:
        return self.model.predict(self.features(x))


def fingerprint(p: Probe) -> str:
    """sha256 (16 hex digits) of a probe's classes, C and fitted weights: the cache key of a model whose head starts
    from the probe (``fine_tuning.set_head``), which must change whenever the weights do."""
    import hashlib

    h = hashlib.sha256()
    for part in (np.asarray(p.model.classes_), np.asarray([p.C], dtype=np.float64), p.model.coef_, p.model.intercept_):
        h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()[:16]


def _score(select: str, y_true, y_pred) -> float:
    from sklearn.metrics import accuracy_score, f1_score

    if select == "accuracy":
        return float(accuracy_score(y_true, y_pred))
    if select == "macro_f1":
        return float(f1_score(y_true, y_pred, average="macro", zero_division=0))
    raise ValueError(f"select must be 'accuracy' or 'macro_f1', got {select!r}")


def probe(x_train, y_train: Sequence[int], x_valid, y_valid: Sequence[int], cs: Sequence[float] = CS,
          select: str = "accuracy", class_weight: str | None = None, max_iter: int = 2000,
          vectorizer=None, init: Probe | None = None) -> Probe:
    """Logistic regression on ``x_train`` (an array or sparse matrix), C chosen on ``(x_valid, y_valid)``.

    ``class_weight="balanced"`` weights classes as ``fine_tuning.class_weights``. Deterministic (lbfgs; ``init``: a
    probe of the same classes and features whose weights every fit starts from).
    """
    from sklearn.linear_model import LogisticRegression

    _score(select, [0], [0])  # a bad `select` fails before any fitting
    if not cs or any(c <= 0 for c in cs):
        raise ValueError(f"cs must be positive values of C, got {cs!r}")
    y_train, y_valid = np.asarray(y_train), np.asarray(y_valid)
    if x_train.shape[0] != len(y_train) or x_valid.shape[0] != len(y_valid):
        raise ValueError(f"probe: {x_train.shape[0]} training rows for {len(y_train)} labels, {x_valid.shape[0]} "
                         f"validation rows for {len(y_valid)} labels")
    if init is not None and (list(init.model.classes_) != sorted(set(y_train.tolist()))
                             or init.model.coef_.shape[1] != x_train.shape[1]):
        raise ValueError(f"probe: init has classes {list(init.model.classes_)} and {init.model.coef_.shape[1]} "
                         f"features; the data has classes {sorted(set(y_train.tolist()))} and {x_train.shape[1]}")
    best, scores = None, {}
    for c in sorted(cs):
        model = LogisticRegression(C=c, max_iter=max_iter, class_weight=class_weight, warm_start=init is not None)
        if init is not None:
            model.coef_, model.intercept_ = init.model.coef_.copy(), init.model.intercept_.copy()
        model.fit(x_train, y_train)
        scores[c] = _score(select, y_valid, model.predict(x_valid))
        if best is None or scores[c] > scores[best[0]]:
            best = (c, model)
    return Probe(C=best[0], model=best[1], scores=pd.Series(scores, name=f"validation {select}"),
                 vectorizer=vectorizer)


def frozen_probe(encode: Callable[[list[str]], object], train: tuple, valid: tuple, test_texts: Sequence[str],
                 select: str = "accuracy") -> tuple[Probe, np.ndarray]:
    """The probe of a frozen encoder: ``train`` and ``valid`` are ``(texts, labels)``; every split's texts are
    encoded once by ``encode(list[str]) -> (n, dim)`` (a tensor or an array), C is chosen on ``valid`` (see
    :func:`probe`). Returns the probe and its predicted labels for ``test_texts``, ``(n_test,)``."""
    x_train, x_valid, x_test = (np.asarray(encode(list(texts))) for texts in (train[0], valid[0], test_texts))
    fitted = probe(x_train, train[1], x_valid, valid[1], select=select)
    return fitted, fitted.predict(x_test)


def tfidf_char_probe(train_texts: Sequence[str], y_train, valid_texts: Sequence[str], y_valid,
                     cs: Sequence[float] = CS, ngrams: tuple[int, int] = (1, 3), select: str = "accuracy") -> Probe:
    """TF-IDF of character ``ngrams`` (fitted on the training texts only) + ``probe``; ``Probe.predict`` takes texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=ngrams, sublinear_tf=True, min_df=2)
    x_train = vectorizer.fit_transform(list(train_texts))
    return probe(x_train, y_train, vectorizer.transform(list(valid_texts)), y_valid, cs, select,
                 vectorizer=vectorizer)


__all__ = ["CS", "Probe", "fingerprint", "frozen_probe", "probe", "tfidf_char_probe"]
