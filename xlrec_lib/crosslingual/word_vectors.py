"""Static word vectors per language from the verse corpus: PPMI of window co-occurrences, reduced by SVD.

For a word w and a context word c within ``window`` positions of it, with co-occurrence counts ``#(w, c)``:

    PPMI(w, c) = max(0, log( P(w, c) / (P(w) P_alpha(c)) )),   P_alpha(c) = #(c)^alpha / sum_c' #(c')^alpha

(context-distribution smoothing, alpha = 0.75, Levy, Goldberg & Dagan 2015), then ``PPMI ~ U S V^T`` truncated to
``dim`` components and the word vectors are ``U S^power``. Each language is trained on its own text only; the held-out
books (``xlrec_lib.corpus``: Mark and John) are left out. English is lower-cased ``[^\\W\\d_]+`` words, Chinese is
segmented by ``jieba`` (words containing at least one CJK character).

Why PPMI + SVD rather than skip-gram: on 2 CPU cores a torch skip-gram prototype needed more than 7 minutes for
one epoch of the English side, while PPMI + SVD fits both languages in well under a minute, deterministically
(see the chapter on cross-lingual mapping for the measured configurations).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from xlrec_lib.config import cache_dir

_WORD = re.compile(r"[^\W\d_]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def segment_zh(text: str) -> list[str]:
    """Chinese words by ``jieba`` (precise mode, no HMM for unknown words: deterministic and dictionary-bound)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut(text, HMM=False)


def tokenize(text: str, lang: str) -> list[str]:
    """Words of ``text``: ``jieba`` words with a CJK character for ``zh``; lower-cased letter runs otherwise."""
    if lang == "zh":
        return [w for w in segment_zh(text) if _CJK.search(w)]
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class PPMIConfig:
    """Everything that determines the vectors (and so the cache key)."""

    min_count: int = 3
    window: int = 10
    dim: int = 100
    alpha: float = 0.75
    power: float = 1.0
    niter: int = 6
    seed: int = 0


@dataclass
class WordVectors:
    """``words`` (most frequent first), ``vectors`` ``(len(words), dim)`` float32, ``counts`` in the training text."""

    words: list[str]
    vectors: np.ndarray
    counts: np.ndarray

    def __post_init__(self):
        if not (len(self.words) == len(self.vectors) == len(self.counts)):
            raise ValueError(f"{len(self.words)} words, {len(self.vectors)} vectors, {len(self.counts)} counts")
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index[word]]

    def save(self, path: str | Path, meta: dict | None = None) -> None:
        from safetensors.numpy import save_file

        save_file({"vectors": np.ascontiguousarray(self.vectors, dtype=np.float32),
                   "counts": np.asarray(self.counts, dtype=np.int64)}, str(path),
                  metadata={"words": json.dumps(self.words, ensure_ascii=False), **(meta or {})})

    @classmethod
    def load(cls, path: str | Path) -> WordVectors:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            words = json.loads(f.metadata()["words"])
            return cls(words, f.get_tensor("vectors"), f.get_tensor("counts"))


def build_vocab(sentences: Iterable[Sequence[str]], min_count: int) -> tuple[list[str], np.ndarray]:
    """Words seen at least ``min_count`` times, most frequent first (ties by the word), and their counts."""
    counts = Counter(w for s in sentences for w in s)
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return kept, np.array([counts[w] for w in kept], dtype=np.int64)


def cooccurrences(ids: np.ndarray, n_words: int, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric window co-occurrence counts of a token-id stream (``-1`` = out of vocabulary, skipped):
    ``(rows, cols, counts)`` of the non-zero cells of the ``(n_words, n_words)`` matrix."""
    codes = []
    for d in range(1, window + 1):
        a, b = ids[:-d], ids[d:]
        ok = (a >= 0) & (b >= 0)
        codes += [a[ok] * n_words + b[ok], b[ok] * n_words + a[ok]]
    cells, counts = np.unique(np.concatenate(codes), return_counts=True)
    return cells // n_words, cells % n_words, counts


def ppmi(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, n_words: int,
         alpha: float = 0.75) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positive PMI of the non-zero cells, with context counts raised to ``alpha``; zero cells are dropped."""
    counts = counts.astype(np.float64)
    total = counts.sum()
    p_word = np.bincount(rows, counts, n_words) / total
    smoothed = np.bincount(cols, counts, n_words) ** alpha
    p_ctx = smoothed / smoothed.sum()
    pmi = np.log(counts / total) - np.log(p_word[rows]) - np.log(p_ctx[cols])
    keep = pmi > 0
    return rows[keep], cols[keep], pmi[keep]


def ppmi_svd(sentences: Sequence[Sequence[str]], cfg: PPMIConfig = PPMIConfig()) -> WordVectors:
    """Word vectors ``U S^power`` of the truncated SVD of the PPMI matrix of ``sentences`` (lists of words).

    The sentences are read as one stream (a window may span a verse boundary). ``torch.svd_lowrank`` runs with
    a fixed seed, so the vectors are reproducible on one machine.
    """
    words, counts = build_vocab(sentences, cfg.min_count)
    if len(words) <= cfg.dim:
        raise ValueError(f"only {len(words)} words occur >= {cfg.min_count} times, need more than dim={cfg.dim}")
    index = {w: i for i, w in enumerate(words)}
    ids = np.array([index.get(w, -1) for s in sentences for w in s], dtype=np.int64)
    r, c, v = ppmi(*cooccurrences(ids, len(words), cfg.window), len(words), cfg.alpha)
    matrix = torch.sparse_coo_tensor(np.stack([r, c]), torch.tensor(v, dtype=torch.float32),
                                     (len(words), len(words)), check_invariants=False).coalesce()
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        u, s, _ = torch.svd_lowrank(matrix, q=cfg.dim, niter=cfg.niter)
    return WordVectors(words, (u * s**cfg.power).numpy().astype(np.float32), counts)


def training_sentences(lang: str, progress: bool = True) -> list[list[str]]:
    """Tokenised verses of ``lang`` outside the held-out books (the ``train`` split of ``xlrec_lib.corpus``)."""
    from xlrec_lib.lm.corpus import load_verses

    verses = load_verses((lang,))
    texts = verses.loc[verses["split"] == "train", lang].tolist()
    return [tokenize(t, lang) for t in tqdm(texts, desc=f"tokenise {lang}", disable=not progress)]


def train_word_vectors(lang: str, cfg: PPMIConfig = PPMIConfig(), cache: bool = True,
                       progress: bool = True) -> WordVectors:
    """PPMI + SVD vectors of ``lang`` on its training verses, cached (safetensors) under a key of the config."""
    key = hashlib.sha1(json.dumps({"lang": lang, **asdict(cfg), "v": 1}, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir("word_vectors") / f"ppmi-svd-{lang}-{key}.safetensors"
    if cache and path.exists():
        return WordVectors.load(path)
    vectors = ppmi_svd(training_sentences(lang, progress), cfg)
    if cache:
        vectors.save(path, {"config": json.dumps(asdict(cfg)), "lang": lang})
    return vectors


__all__ = ["segment_zh", "tokenize", "PPMIConfig", "WordVectors", "build_vocab", "cooccurrences", "ppmi",
           "ppmi_svd", "training_sentences", "train_word_vectors"]
