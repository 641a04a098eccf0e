"""Content-based news recommendation scored on MIND impressions, in one language or across two (xMIND).

An impression is one page view: the user's click ``history`` before it, and the ``candidates`` shown with their
click ``labels``. The zero-shot content route needs no training: a user's profile is the mean of the unit vectors
of the news in the history, renormalised; each candidate scores its cosine with the profile; the candidates are
ranked within the impression. History and candidates may be read in different languages (an English reader's
history, Chinese news on the page), which is the cross-lingual setting xMIND was built for.

Metrics are MIND's, per impression, then averaged over impressions (Wu et al., ACL 2020, the competition's
``evaluate.py``): AUC; MRR = the mean over clicked candidates of 1 / rank; nDCG@k with gains ``2^y - 1`` and
discounts ``log2(rank + 1)``. MIND scores submitted ranks, which have no ties; from scores, a clicked candidate
tied with skipped ones ranks after them (the library's tie rule: a tie never counts for the recommender), while
AUC gives a tied pair one half, as AUC does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from xlrec_lib.encoders.protocol import Encoder, cached_encode
from xlrec_lib.intervals import bootstrap_mean
from xlrec_lib.rec.classification_metrics import auc
from xlrec_lib.vectors import check_ks

SKIP_REASONS = ("news not in the news file", "no history", "history news without text", "candidate without text",
                "unlabelled candidate", "one class only")


def news_texts(news: pd.DataFrame, lang: str | None = None) -> pd.Series:
    """``news_id -> text`` (title, then abstract when there is one) from a ``mind_news(...).news`` frame, in English
    (``lang=None``) or in an xMIND language joined with ``translations`` (``title_<lang>``, ``abstract_<lang>``).
    A news without a translation maps to ``""``: the evaluation skips what needs it and counts it."""
    title, abstract = ("title", "abstract") if lang is None else (f"title_{lang}", f"abstract_{lang}")
    missing = [c for c in (title, abstract) if c not in news.columns]
    if missing:
        hint = "" if lang is None else f"; read it with mind_news(folder, translations={{{lang!r}: xmind_folder}})"
        raise ValueError(f"news_texts: the news frame has no column {missing[0]!r}{hint}")
    t = news[title].fillna("").str.strip()
    a = news[abstract].fillna("").str.strip()
    text = t.where(a.eq(""), t + " " + a).where(t.ne(""), "")  # no title: untranslated, whatever the abstract
    return pd.Series(text.to_numpy(), index=news["news_id"].to_numpy(), name=lang or "en")


def encode_news(encoder: Encoder, texts: pd.Series) -> torch.Tensor:
    """``(n_news, dim)``: the unit vectors of ``texts`` (from :func:`news_texts`) through ``cached_encode``, one row
    per news in order; an untranslated news (``""``) is not encoded and gets a zero row, which
    :func:`evaluate_impressions` never reads."""
    keep = torch.from_numpy(texts.to_numpy() != "")
    if not keep.any():
        raise ValueError(f"encode_news: all {len(texts)} texts are empty (an xMIND folder of another split?)")
    encoded = cached_encode(encoder, texts[keep.numpy()].tolist())
    out = torch.zeros(len(texts), encoded.shape[1], dtype=encoded.dtype)
    out[keep] = encoded
    return out


def impression_metrics(labels: Sequence[int], scores: Sequence[float], ks: Sequence[int] = (5, 10)) -> dict:
    """MIND's metrics of one impression: ``{"AUC", "MRR", "NDCG@k" for k in ks}``. ``labels`` are 0/1 with at least
    one of each; ``scores`` finite (checked by :func:`auc`). Ties: module docstring."""
    ks = check_ks(ks)
    y = np.asarray(labels)
    out = {"AUC": auc(y, scores)}
    order = np.lexsort((y, -np.asarray(scores, dtype=np.float64)))  # by score, then a skipped one first
    ranked = y[order].astype(np.float64)
    out["MRR"] = float((ranked / np.arange(1, len(y) + 1)).sum() / ranked.sum())
    ideal = np.sort(y)[::-1].astype(np.float64)
    for k in ks:
        disc = np.log2(np.arange(2, min(k, len(y)) + 2))
        out[f"NDCG@{k}"] = float(((2 ** ranked[:k] - 1) / disc).sum() / ((2 ** ideal[:k] - 1) / disc).sum())
    return out


def _vectors(texts: pd.Series, vectors: torch.Tensor, who: str) -> dict[str, torch.Tensor]:
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise ValueError(f"evaluate_impressions: {who} vectors {tuple(vectors.shape)} must be (n_news, dim) with "
                         f"one row per text ({len(texts)})")
    if not torch.isfinite(vectors).all():
        raise ValueError(f"evaluate_impressions: {who} vectors hold NaN or inf")
    keep = texts.to_numpy() != ""
    return dict(zip(texts.index[keep], vectors[torch.from_numpy(keep)], strict=True))


def _check_row(imp, candidates, labels) -> None:
    if not candidates:
        raise ValueError(f"evaluate_impressions: impression {imp} shows no candidates (an empty impressions field "
                         "in behaviors.tsv); fix or remove that line")
    if len(labels) != len(candidates):
        raise ValueError(f"evaluate_impressions: impression {imp} has {len(candidates)} candidates but "
                         f"{len(labels)} labels")
    if any(v not in (-1, 0, 1) for v in labels):
        raise ValueError(f"evaluate_impressions: impression {imp} has labels {sorted(set(labels))}; they must be 1 "
                         "(clicked), 0 (skipped) or -1 (unknown)")


def evaluate_impressions(behaviors: pd.DataFrame, history_texts: pd.Series, history_vectors: torch.Tensor,
                         candidate_texts: pd.Series, candidate_vectors: torch.Tensor,
                         ks: Sequence[int] = (5, 10)) -> pd.DataFrame:
    """Score every impression of ``behaviors`` (``mind_news(...).behaviors``) with the mean-history profile.

    ``history_texts`` / ``candidate_texts``: :func:`news_texts` of the language each side is read in;
    ``*_vectors``: their encodings ``(n_news, dim)``, one row per text, in the same order (the rows of ``""`` texts
    are ignored). A news clicked twice counts twice in the mean. Returns one row per scored impression:
    ``impression_id``, ``user_id`` (when ``behaviors`` has it), ``candidates``, ``clicks`` and the metrics of
    :func:`impression_metrics`; ``.attrs["skipped"]`` counts the impressions left out, by reason (no history: no
    profile; a news of the history or of the page without text in its language; a candidate without a click label,
    as in MIND-large's test split; all candidates clicked or none; a news id that the texts do not hold at all,
    which a news.tsv from another split than behaviors.tsv gives). An impression without candidates or with labels
    that do not match them is a ValueError naming the impression.
    """
    need = {"impression_id", "history", "candidates", "labels"}
    if not need <= set(behaviors.columns):
        raise ValueError(f"evaluate_impressions: behaviors lacks {sorted(need - set(behaviors.columns))}")
    hist = _vectors(history_texts, history_vectors, "history")
    cand = _vectors(candidate_texts, candidate_vectors, "candidate")
    users = behaviors["user_id"] if "user_id" in behaviors.columns else pd.Series(None, index=behaviors.index)
    rows, skipped = [], Counter()
    for imp, user, history, candidates, labels in zip(behaviors["impression_id"], users, behaviors["history"],
                                                      behaviors["candidates"], behaviors["labels"], strict=True):
        _check_row(imp, candidates, labels)
        unknown = any(n not in history_texts.index for n in history) or any(
            n not in candidate_texts.index for n in candidates)
        reason = ("news not in the news file" if unknown
                  else "no history" if not history
                  else "history news without text" if any(n not in hist for n in history)
                  else "candidate without text" if any(n not in cand for n in candidates)
                  else "unlabelled candidate" if min(labels) < 0
                  else "one class only" if len(set(labels)) < 2 else None)
        if reason:
            skipped[reason] += 1
            continue
        profile = torch.nn.functional.normalize(torch.stack([hist[n] for n in history]).mean(0), dim=0)
        scores = torch.stack([cand[n] for n in candidates]) @ profile
        rows.append({"impression_id": imp, "user_id": user, "candidates": len(candidates),
                     "clicks": int(sum(labels)), **impression_metrics(labels, scores.double().numpy(), ks)})
    out = pd.DataFrame(rows, columns=["impression_id", "user_id", "candidates", "clicks", "AUC", "MRR",
                                      *[f"NDCG@{k}" for k in check_ks(ks)]])
    if "user_id" not in behaviors.columns:
        out = out.drop(columns="user_id")
    out.attrs["skipped"] = {r: skipped[r] for r in SKIP_REASONS if skipped[r]}
    return out


def paired_by_user(a: pd.DataFrame, b: pd.DataFrame, metric: str = "AUC", n_boot: int = 1000,
                   seed: int = 0) -> tuple[float, float, float, int]:
    """``(mean difference, low, high, page views)`` of ``metric`` between two settings' :func:`evaluate_impressions`
    frames over the page views both scored, with a bootstrap over users: a user's page views come from one reader
    and are correlated, so resampling page views would make the interval too narrow. The difference is the mean
    over page views; each resample draws users with all their page views (``intervals.bootstrap_mean`` with
    ``clusters``), so page views of a single user give a ValueError, not an interval."""
    for frame, name in ((a, "a"), (b, "b")):
        if "user_id" not in frame.columns or metric not in frame.columns:
            raise ValueError(f"paired_by_user: frame {name} needs user_id and {metric!r} columns")
    both = a.merge(b, on=["impression_id", "user_id"], suffixes=("_a", "_b"), validate="one_to_one")
    if both.empty:
        raise ValueError("paired_by_user: the two settings share no scored page view")
    diff = both[f"{metric}_a"] - both[f"{metric}_b"]
    mean, low, high = bootstrap_mean(diff, n_boot=n_boot, seed=seed, clusters=both["user_id"])
    return mean, low, high, len(both)


__all__ = ["news_texts", "encode_news", "impression_metrics", "evaluate_impressions", "paired_by_user",
           "SKIP_REASONS"]
