"""Metrics of labels and predictions: AUC, accuracy, confusion matrix, per-class precision/recall/F1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties counting 1/2.

    Computed from ranks (Mann-Whitney U): ``(sum of positive ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``,
    with average ranks for ties. Global over all pairs given, like recommenders' ``auc`` (not per user).
    """
    y = np.asarray(labels)
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"auc: scores must be numbers: {err}") from None
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"auc: labels {y.shape} and scores {s.shape} must be 1-D of the same length")
    if y.dtype.kind not in "biuf" or not np.isin(y, [0, 1]).all():
        bad = next(v for v in y.tolist() if v not in (0, 1) or isinstance(v, str))
        raise ValueError(f"auc: labels must be 0/1, got {bad!r} (did you pass (scores, labels)? the order is "
                         "(labels, scores))")
    if not np.isfinite(s).all():
        j = int(np.flatnonzero(~np.isfinite(s))[0])
        raise ValueError(f"auc: scores must be finite, got {s[j]} at position {j}")
    y = y.astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"auc: need both classes, got {n_pos} positives and {n_neg} negatives")
    ranks = pd.Series(s).rank(method="average").to_numpy()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _labels_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} must be 1-D of the same length")
    if len(t) == 0:
        raise ValueError("no examples")
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            j = int(np.flatnonzero(~np.isfinite(a))[0])
            raise ValueError(f"{name} has {a[j]} at position {j}: labels must be finite")
        if a.dtype.kind == "O" and any(isinstance(v, float) and not np.isfinite(v) for v in a.tolist()):
            raise ValueError(f"{name} has a NaN label")
    return t, p


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Share of examples whose predicted label equals the true label."""
    t, p = _labels_pair(y_true, y_pred)
    return float((t == p).mean())


def confusion_matrix(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> pd.DataFrame:
    """Counts ``C[t, p]`` of examples with true label ``t`` (rows) and predicted label ``p`` (columns)."""
    t, p = _labels_pair(y_true, y_pred)
    labels = list(labels) if labels is not None else sorted(set(np.unique(t).tolist()) | set(np.unique(p).tolist()))
    index = pd.Index(labels)
    if not index.is_unique:
        raise ValueError(f"confusion_matrix: labels repeat: {labels}")
    codes = []
    for values in (t, p):
        code = index.get_indexer(values).astype(np.int64)  # -1 for a label not in labels
        if (code < 0).any():
            raise ValueError(f"confusion_matrix: label {values[code < 0].tolist()[0]!r} is not in labels {labels}")
        codes.append(code)
    n = len(labels)
    counts = np.bincount(codes[0] * n + codes[1], minlength=n * n).reshape(n, n)
    return pd.DataFrame(counts, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="predicted"))


def classification_report(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> pd.DataFrame:
    """Per class: ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, ``f1 = 2PR / (P + R)``, support;
    then a ``macro`` row (unweighted mean over classes) and a ``micro`` row (pooled counts; equals accuracy when
    every label is listed). A ratio with a zero denominator is 0 (sklearn's ``zero_division=0``)."""
    frame = confusion_matrix(y_true, y_pred, labels)
    cm = frame.to_numpy()
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)

    def ratio(a, b):
        return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)

    prec, rec = ratio(tp, predicted), ratio(tp, support)
    f1 = ratio(2 * prec * rec, prec + rec)
    micro_p, micro_r = float(ratio(tp.sum(), predicted.sum())), float(ratio(tp.sum(), support.sum()))
    micro_f1 = 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r > 0 else 0.0
    n = support.sum()
    return pd.DataFrame(
        {
            "precision": [*prec, prec.mean(), micro_p],
            "recall": [*rec, rec.mean(), micro_r],
            "f1": [*f1, f1.mean(), micro_f1],
            "support": [*support.tolist(), int(n), int(n)],
        },
        index=pd.Index([*frame.index, "macro", "micro"], dtype=object),
    )


def _averaged(column: str, y_true, y_pred, average: str | None, labels, pos_label):
    report = classification_report(y_true, y_pred, labels)
    if average is None:
        return report[column].iloc[:-2]
    if average in ("macro", "micro"):
        return float(report.loc[average, column])
    if average == "binary":
        if pos_label not in report.index[:-2]:
            raise ValueError(f"pos_label {pos_label!r} is not among the labels {list(report.index[:-2])}")
        return float(report.loc[pos_label, column])
    raise ValueError(f"average must be 'macro', 'micro', 'binary' or None, got {average!r}")


def precision_score(y_true, y_pred, average: str | None = "macro", labels=None, pos_label=1):
    """Precision ``TP / (TP + FP)``: ``average`` is ``'macro'``, ``'micro'``, ``'binary'`` (class ``pos_label``)
    or ``None`` (a Series per class). See :func:`classification_report`."""
    return _averaged("precision", y_true, y_pred, average, labels, pos_label)


def recall_score(y_true, y_pred, average: str | None = "macro", labels=None, pos_label=1):
    """Recall ``TP / (TP + FN)``, averaged as in :func:`precision_score`."""
    return _averaged("recall", y_true, y_pred, average, labels, pos_label)


def f1_score(y_true, y_pred, average: str | None = "macro", labels=None, pos_label=1):
    """F1 ``2PR / (P + R)`` per class; macro-F1 is the mean of the per-class F1 (not F1 of the mean P and R)."""
    return _averaged("f1", y_true, y_pred, average, labels, pos_label)


def accuracy_and_macro_f1(y_true, y_pred, labels=None) -> dict[str, float]:
    """``{"accuracy": ..., "macro-F1": ...}``, the two numbers a classification table gives each model; ``labels``:
    the classes macro-F1 averages over (default: every class in ``y_true`` or ``y_pred``)."""
    return {"accuracy": accuracy(y_true, y_pred), "macro-F1": f1_score(y_true, y_pred, average="macro", labels=labels)}
