"""Static word vectors per language from the verse corpus: PPMI of window co-occurrences, reduced by SVD.

For a word w and a context word c within ``window`` positions of it, with co-occurrence counts ``#(w, c)``:

    PPMI(w, c) = max(0, log( P(w, c) / (P(w) P_alpha(c)) )),   P_alpha(c) = #(c)^alpha / sum_c' #(c')^alpha

(context-distribution smoothing, alpha = 0.75, Levy, Goldberg & Dagan 2015), then ``PPMI ~ U S V^T`` truncated to
``dim`` components and the word vectors are ``U S^power``. Each language is trained on its own text only; the held-out
books (``xlrec_lib.lm.corpus``: Mark, John, Psalms) are left out. Words follow ``xlrec_lib.data.text.words``: ``jieba``
words with a CJK character for Chinese, lower-cased letter runs for every other language.

Why PPMI + SVD rather than skip-gram: on 2 CPU cores a torch skip-gram prototype needed more than 7 minutes for
one epoch of the English side, while PPMI + SVD fits both languages in well under a minute, deterministically
(see the chapter on cross-lingual mapping for the measured configurations).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from xlrec_lib import cache
from xlrec_lib.data import text
from xlrec_lib.vectors import finite_number, positive_int

VERSION = 2  # PPMI + SVD as computed below; a change that changes the vectors bumps it in the same commit
# extra directions the randomized SVD computes beyond ``dim`` and then drops: with none, a direction whose
# singular value is close to the next one's has not converged after ``niter`` power iterations (Halko et al., 2011)
OVERSAMPLE = 10
VECTORS_FILE = "vectors.safetensors"


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

    def __post_init__(self):
        for name in ("min_count", "window", "dim", "niter"):
            positive_int(getattr(self, name), f"PPMIConfig.{name}")
        for name in ("alpha", "power"):
            value = finite_number(getattr(self, name), f"PPMIConfig.{name}")
            if value < 0:
                raise ValueError(f"PPMIConfig.{name} must be >= 0, got {value}")


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


def ppmi_matrix(sentences: Sequence[Sequence[str]], cfg: PPMIConfig = PPMIConfig()
                ) -> tuple[list[str], np.ndarray, torch.Tensor]:
    """``(words, counts, matrix)``: the vocabulary of ``sentences`` (lists of words, read as one stream, so a window
    may span a verse boundary), its counts, and the sparse ``(n_words, n_words)`` float32 PPMI matrix."""
    words, counts = build_vocab(sentences, cfg.min_count)
    index = {w: i for i, w in enumerate(words)}
    ids = np.array([index.get(w, -1) for s in sentences for w in s], dtype=np.int64)
    r, c, v = ppmi(*cooccurrences(ids, len(words), cfg.window), len(words), cfg.alpha)
    matrix = torch.sparse_coo_tensor(np.stack([r, c]), torch.tensor(v, dtype=torch.float32),
                                     (len(words), len(words)), check_invariants=False).coalesce()
    return words, counts, matrix


def ppmi_svd(sentences: Sequence[Sequence[str]], cfg: PPMIConfig = PPMIConfig()) -> WordVectors:
    """Word vectors ``U S^power`` of the truncated SVD of the PPMI matrix of ``sentences`` (:func:`ppmi_matrix`).

    ``torch.svd_lowrank`` (randomized) runs with a fixed seed, so the vectors are reproducible on one machine, and
    computes ``OVERSAMPLE`` directions more than it keeps, so that the ``dim`` kept have converged.
    """
    words, counts, matrix = ppmi_matrix(sentences, cfg)
    if len(words) <= cfg.dim:
        raise ValueError(f"only {len(words)} words occur >= {cfg.min_count} times, need more than dim={cfg.dim}")
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        u, s, _ = torch.svd_lowrank(matrix, q=min(cfg.dim + OVERSAMPLE, len(words)), niter=cfg.niter)
    u, s = u[:, : cfg.dim], s[: cfg.dim]
    return WordVectors(words, (u * s**cfg.power).numpy().astype(np.float32), counts)


def training_sentences(lang: str, progress: bool = True) -> list[list[str]]:
    """The words (``xlrec_lib.data.text.words``) of each verse of ``lang`` outside the held-out books (the ``train``
    split of ``xlrec_lib.lm.corpus``)."""
    from xlrec_lib.lm.corpus import load_verses

    verses = load_verses((lang,))
    texts = verses.loc[verses["split"] == "train", lang].tolist()
    return [text.words(t, lang) for t in tqdm(texts, desc=f"split {lang} into words", disable=not progress)]


def word_vectors_dir(lang: str, cfg: PPMIConfig = PPMIConfig()) -> Path:
    """The cache folder of ``lang``'s vectors: keyed by the config and the versions of this module, the word rules
    and the corpus."""
    from xlrec_lib.lm import corpus

    key = cache.fingerprint({"lang": lang, **asdict(cfg)},
                            {"word_vectors": VERSION, "text": text.VERSION, "corpus": corpus.versions()})
    return cache.artefact_dir("word_vectors", f"ppmi-svd-{lang}-{key}")


def train_word_vectors(lang: str, cfg: PPMIConfig = PPMIConfig(), use_cache: bool = True,
                       progress: bool = True) -> WordVectors:
    """PPMI + SVD vectors of ``lang`` on its training verses; built once into the cache (``xlrec_lib.cache``)
    and loaded, checked, afterwards. ``use_cache=False`` computes them without reading or writing the cache."""
    if not use_cache:
        return ppmi_svd(training_sentences(lang, progress), cfg)

    def build(tmp: Path) -> None:
        vectors = ppmi_svd(training_sentences(lang, progress), cfg)
        vectors.save(tmp / VECTORS_FILE, {"config": json.dumps(asdict(cfg)), "lang": lang})

    def load(folder: Path) -> WordVectors:
        return WordVectors.load(folder / VECTORS_FILE)

    return cache.load_or_build(word_vectors_dir(lang, cfg), build, load)


__all__ = ["PPMIConfig", "WordVectors", "build_vocab", "cooccurrences", "ppmi", "ppmi_matrix", "ppmi_svd",
           "training_sentences", "word_vectors_dir", "train_word_vectors"]
