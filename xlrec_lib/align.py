"""Cross-lingual alignment: orthogonal Procrustes, CSLS, word translation, and contrastive (InfoNCE) training.

Word level (the MUSE protocol, Conneau et al. 2018): fit an orthogonal map W on the vectors of a seed lexicon,
``x W ~ y``, then translate a source word by the nearest target word to ``x W``, by cosine (nearest neighbour)
or by CSLS, which discounts "hub" words that are close to everything.

Sentence level: pull the mean-pooled vectors of parallel sentences together and push the other sentences of the
batch away (InfoNCE with in-batch negatives and a temperature), starting from a pretrained encoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from xlrec_lib.retrieval import mean_pool

# ----------------------------------------------------------------------------------------------- word level


def normalize_center(vectors: np.ndarray) -> np.ndarray:
    """Unit length, mean-centred, unit length again (the MUSE/VecMap preprocessing): ``(n, dim)`` -> ``(n, dim)``."""
    x = np.asarray(vectors, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    x = x - x.mean(0, keepdims=True)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def procrustes(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The orthogonal ``W`` ``(dim, dim)`` minimising ``||X W - Y||_F`` for paired rows ``X, Y`` ``(n, dim)``.

    Schönemann (1966): with ``U S V^T = svd(X^T Y)``, ``W = U V^T``.
    """
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if X.shape != Y.shape or X.ndim != 2:
        raise ValueError(f"procrustes needs paired rows of equal width, got X {X.shape} and Y {Y.shape}")
    if len(X) == 0:
        raise ValueError("procrustes: no pairs to fit")
    u, _, vt = np.linalg.svd(X.T @ Y)
    return u @ vt


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def _mean_top_k(sim: np.ndarray, k: int) -> np.ndarray:
    k = min(k, sim.shape[1])
    return np.partition(sim, sim.shape[1] - k, axis=1)[:, -k:].mean(1)


def csls_scores(src: np.ndarray, tgt: np.ndarray, k: int = 10, rows: Sequence[int] | None = None,
                chunk: int = 2048) -> np.ndarray:
    """Cross-domain similarity local scaling of source rows against every target row: ``(n_rows, n_tgt)``.

    ``CSLS(x, y) = 2 cos(x, y) - r_T(x) - r_S(y)``, where ``r_T(x)`` is the mean cosine of ``x`` to its ``k``
    nearest targets and ``r_S(y)`` the mean cosine of ``y`` to its ``k`` nearest sources (Conneau et al. 2018).
    ``src`` ``(n_src, dim)`` are the (already mapped) source vectors, all of which make up the source neighbourhood;
    ``rows`` picks the source rows to score (default: all).
    """
    src, tgt = np.asarray(src, dtype=np.float64), np.asarray(tgt, dtype=np.float64)
    if src.ndim != 2 or tgt.ndim != 2 or src.shape[1] != tgt.shape[1]:
        raise ValueError(f"csls_scores: src {src.shape} and tgt {tgt.shape} must be (n, dim) of the same dim")
    if min(len(src), len(tgt)) < k:
        raise ValueError(f"csls_scores: k={k} exceeds the number of rows (src {len(src)}, tgt {len(tgt)})")
    query = src if rows is None else src[np.asarray(rows, dtype=np.int64)]
    cos = _cosine(query, tgt)
    r_t = _mean_top_k(cos, k)
    r_s = np.concatenate([_mean_top_k(_cosine(tgt[i:i + chunk], src), k) for i in range(0, len(tgt), chunk)])
    return 2 * cos - r_t[:, None] - r_s[None, :]


def lexicon_indices(pairs, src_vocab: Sequence[str], tgt_vocab: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(src_idx, tgt_idx)`` of the lexicon pairs (``source, target`` columns) whose both words are in
    the vocabularies; pairs with a word outside them are left out (count them with ``len``)."""
    s_index = {w: i for i, w in enumerate(src_vocab)}
    t_index = {w: i for i, w in enumerate(tgt_vocab)}
    kept = [(s_index[s], t_index[t]) for s, t in zip(pairs["source"], pairs["target"], strict=True)
            if s in s_index and t in t_index]
    if not kept:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return tuple(np.array(c, dtype=np.int64) for c in zip(*kept, strict=True))


def translation_accuracy(scores: np.ndarray, gold: Sequence[set[int]],
                         ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """``P@k`` of word translation: share of queries (rows of ``scores`` ``(n_query, n_tgt)``) with at least one of
    their gold target indices ``gold[i]`` among their ``k`` best-scoring targets (any gold counts, as in MUSE)."""
    if len(gold) != len(scores):
        raise ValueError(f"{len(scores)} score rows but {len(gold)} gold sets")
    kmax = max(ks)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :kmax]
    hit = np.array([[j in g for j in row] for row, g in zip(top, gold, strict=True)], dtype=bool).reshape(-1, kmax)
    return {f"P@{k}": float(hit[:, :k].any(1).mean()) for k in ks}


def word_translation(src_vecs: np.ndarray, tgt_vecs: np.ndarray, src_vocab: Sequence[str],
                     tgt_vocab: Sequence[str], test_pairs, method: str = "csls", k: int = 10,
                     ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Word translation ``P@k`` of the (already mapped) source vectors against the whole target vocabulary.

    ``test_pairs``: frame with ``source, target``; queries are the source words that are in ``src_vocab`` and have at
    least one target in ``tgt_vocab``. ``method``: ``"nn"`` (cosine) or ``"csls"``. Also returns ``n_queries``.
    """
    if method not in ("nn", "csls"):
        raise ValueError(f"method must be 'nn' or 'csls', got {method!r}")
    s_idx, t_idx = lexicon_indices(test_pairs, src_vocab, tgt_vocab)
    queries = sorted(set(s_idx.tolist()))
    gold = [set(t_idx[s_idx == q].tolist()) for q in queries]
    if not queries:
        raise ValueError("word_translation: no test pair has both words in the vocabularies")
    if method == "nn":
        scores = _cosine(np.asarray(src_vecs)[queries], np.asarray(tgt_vecs))
    else:  # the whole mapped source vocabulary is the neighbourhood of each target
        scores = csls_scores(src_vecs, tgt_vecs, k, rows=queries)
    return {**translation_accuracy(scores, gold, ks), "n_queries": len(queries)}


def reverse_test_pairs(train_pairs, test_pairs):
    """Test pairs for the reverse direction (target -> source words): the test pairs whose target word is never a
    target in ``train_pairs``, with the columns swapped, so that no query word was seen when fitting."""
    seen = set(train_pairs["target"])
    kept = test_pairs[~test_pairs["target"].isin(seen)]
    return kept.rename(columns={"source": "target", "target": "source"})[["source", "target"]].reset_index(drop=True)


def fit_mapping(src_vecs: np.ndarray, tgt_vecs: np.ndarray, src_vocab: Sequence[str], tgt_vocab: Sequence[str],
                train_pairs) -> tuple[np.ndarray, int]:
    """Procrustes ``W`` fitted on the training lexicon pairs found in both vocabularies; returns ``(W, n_pairs)``."""
    s_idx, t_idx = lexicon_indices(train_pairs, src_vocab, tgt_vocab)
    if len(s_idx) == 0:
        raise ValueError("fit_mapping: no training pair has both words in the vocabularies")
    return procrustes(np.asarray(src_vecs)[s_idx], np.asarray(tgt_vecs)[t_idx]), len(s_idx)


def muse_evaluation(src_vectors, tgt_vectors, train_pairs, test_pairs, k: int = 10,
                    src: str = "en", tgt: str = "zh") -> tuple[list[dict], np.ndarray]:
    """The MUSE supervised protocol both ways: normalise and centre, fit Procrustes on ``train_pairs`` (``source`` in
    ``src``), then P@1/P@5 by nearest neighbour and by CSLS, ``src -> tgt`` on ``test_pairs`` and ``tgt -> src`` on
    ``reverse_test_pairs``. ``*_vectors`` are ``WordVectors`` (``.words``, ``.vectors``).
    Returns ``(rows, W)`` with one row per direction and method."""
    X, Y = normalize_center(src_vectors.vectors), normalize_center(tgt_vectors.vectors)
    W, n_pairs = fit_mapping(X, Y, src_vectors.words, tgt_vectors.words, train_pairs)
    reverse = reverse_test_pairs(train_pairs, test_pairs)
    rows = []
    for direction, (q, qv, t, tv, pairs) in {
        f"{src}→{tgt}": (X @ W, src_vectors.words, Y, tgt_vectors.words, test_pairs),
        f"{tgt}→{src}": (Y @ W.T, tgt_vectors.words, X, src_vectors.words, reverse),  # W orthogonal: inverse = W^T
    }.items():
        for method in ("nn", "csls"):
            out = word_translation(q, t, qv, tv, pairs, method=method, k=k)
            rows.append({"direction": direction, "method": method.upper(), **out, "train_pairs": n_pairs})
    return rows, W


# ------------------------------------------------------------------------------------------- sentence level


def bidirectional_retrieval(a: torch.Tensor, b: torch.Tensor, src: str = "en", tgt: str = "zh",
                            ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """``paired_retrieval`` both ways, flat: ``{"en→zh P@1": ..., "en→zh MRR": ..., "zh→en P@1": ...}``."""
    from xlrec_lib.retrieval import paired_retrieval

    out = {}
    for name, (x, y) in {f"{src}→{tgt}": (a, b), f"{tgt}→{src}": (b, a)}.items():
        out.update({f"{name} {metric}": value for metric, value in paired_retrieval(x, y, ks).items()})
    return out


def pair_similarities(a: torch.Tensor, b: torch.Tensor, n_random: int | None = None, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of the true pairs ``(a[i], b[i])`` and of random pairs ``(a[i], b[j])``, ``j != i`` (``n_random``
    of them, default as many as true pairs), for histograms of how well a space separates translations."""
    a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
    n = len(a)
    if n < 2:
        raise ValueError("pair_similarities needs at least two pairs")
    rng = np.random.default_rng(seed)
    i = rng.integers(n, size=n_random or n)
    j = (i + rng.integers(1, n, size=len(i))) % n  # never the partner itself
    true = (a * b).sum(-1).numpy()
    return true, (a[i] * b[j]).sum(-1).numpy()


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.05, symmetric: bool = True,
             center: bool = False) -> torch.Tensor:
    """InfoNCE with in-batch negatives: row i of ``a`` ``(batch, dim)`` must pick row i of ``b`` among all rows.

    ``L = -1/B sum_i log softmax_j(cos(a_i, b_j) / tau)_i``; ``symmetric`` averages it with the b -> a direction.
    ``center`` first subtracts the mean of all ``2B`` rows (both sides together) from every row.
    """
    if a.shape != b.shape:
        raise ValueError(f"info_nce: a {tuple(a.shape)} and b {tuple(b.shape)} must be paired row by row")
    if center:
        # Without this, a model whose two languages start in separate clouds can take the shortcut of sending every
        # sentence to one vector (loss = log B, no gradient left). Subtracting one mean for both sides removes that
        # shared vector but keeps the gap between the languages' means, which the loss then closes.
        mean = torch.cat([a, b]).mean(0)
        a, b = a - mean, b - mean
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(len(a), device=a.device)
    loss = F.cross_entropy(logits, target)
    return (loss + F.cross_entropy(logits.T, target)) / 2 if symmetric else loss


def encode_batch(model, tokenizer, texts: list[str], max_length: int = 128, device=None) -> torch.Tensor:
    """Mean-pooled last hidden states with gradients: ``(len(texts), dim)`` (for training; see ``embed_texts``)."""
    encoder = getattr(model, "base_model", model)
    device = device or next(encoder.parameters()).device
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
    hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return mean_pool(hidden, batch["attention_mask"])


def train_contrastive(model, tokenizer, src: Sequence[str], tgt: Sequence[str], epochs: float = 1.0,
                      batch_size: int = 64, lr: float = 5e-5, temperature: float = 0.05, warmup: float = 0.06,
                      max_length: int = 128, seed: int = 0, augment: Callable | None = None, device=None,
                      progress: bool = True, steps: int | None = None, bucket: int = 16, center: bool = True
                      ) -> list[float]:
    """Fine-tune ``model`` (a ``transformers`` encoder, in place) so that ``src[i]`` and ``tgt[i]`` embed together.

    Each step draws ``batch_size`` pairs; the other pairs of the batch are the negatives (``info_nce``). AdamW with
    linear warm-up over ``warmup`` of the steps and linear decay; gradients clipped at norm 1. ``augment``, if
    given, is called as ``augment(src_batch, tgt_batch, rng) -> (src_batch, tgt_batch)`` on every batch (e.g.
    code-switching). ``epochs`` may be fractional; ``steps``, if given, replaces it. ``bucket``: batches are cut
    from windows of that many batches sorted by length (less padding; 1 = plain random batches). ``center``: the
    batch-centred loss (``info_nce(..., center=True)``); the trained encoder is used as it is, uncentred. Returns
    the loss of every step; the model is left in eval mode.
    """
    if len(src) != len(tgt):
        raise ValueError(f"train_contrastive: {len(src)} source texts but {len(tgt)} targets")
    if len(src) < 2:
        raise ValueError("train_contrastive needs at least 2 pairs (the negatives are the other pairs)")
    encoder = getattr(model, "base_model", model)
    device = device or next(encoder.parameters()).device
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    steps = steps or max(1, math.ceil(epochs * len(src) / batch_size))
    order = np.concatenate([rng.permutation(len(src)) for _ in range(math.ceil(steps * batch_size / len(src)))])
    if bucket > 1:  # sort each window of `bucket` batches by length, then shuffle the batches: less padding
        lengths = np.array([len(s) + len(t) for s, t in zip(src, tgt, strict=True)])
        window = bucket * batch_size
        order = np.concatenate([w[np.argsort(lengths[w], kind="stable")]
                                for w in np.split(order, range(window, len(order), window))])
        batches = np.split(order[: len(order) // batch_size * batch_size], len(order) // batch_size)
        order = np.concatenate([batches[i] for i in rng.permutation(len(batches))])
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=lr, weight_decay=0.01)
    n_warm = max(1, int(warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / n_warm, max(0.0, (steps - s) / max(1, steps - n_warm))))
    encoder.train()
    losses = []
    bar = tqdm(range(steps), desc="contrastive", disable=not progress)
    for step in bar:
        idx = order[step * batch_size:(step + 1) * batch_size]
        a, b = [src[i] for i in idx], [tgt[i] for i in idx]
        if augment is not None:
            a, b = augment(a, b, rng)
        loss = info_nce(encode_batch(encoder, tokenizer, a, max_length, device),
                        encode_batch(encoder, tokenizer, b, max_length, device), temperature, center=center)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
    encoder.eval()
    return losses


__all__ = ["normalize_center", "procrustes", "csls_scores", "lexicon_indices", "translation_accuracy",
           "word_translation", "reverse_test_pairs", "fit_mapping", "muse_evaluation",
           "bidirectional_retrieval", "pair_similarities", "info_nce", "encode_batch", "train_contrastive"]
