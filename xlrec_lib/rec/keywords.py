"""Interest keywords (seed 004): items as TF-IDF keyword vectors, users as the sum of their items', explanations.

An item's keywords are the words of its title (``data.text.letter_words``, stop words and one-letter words
dropped), its genre names (lower-cased, whole: ``sci-fi``) and, optionally, its knowledge-graph tags
``relation=entity`` (the terms holding ``=``). Over the ``n`` items, with ``tf_it`` the count of term ``t`` in item
``i`` and ``df_t`` the number of items holding it (terms held by fewer than ``min_df`` items are dropped: a term of
one item relates no two items):

    w_it = 1 + ln tf_it  (sublinear)  or  tf_it,       idf_t = ln((1 + n) / (1 + df_t)) + 1  (smooth)  or  1,
    x_i  = unit(w_i * idf * g),   g_t = kg_weight for a KG tag, else 1                         x: (n_items, n_terms)

(``kg_weight = 0`` drops the tags from the terms altogether).

A user's interest vector is the weighted sum of the vectors of the items in their history, ``h_u = sum_i W_ui x_i``
(``W`` (n_users, n_items): 1 per training item; feedback adds accepted items and subtracts skipped ones), and the
user's keywords are the largest coordinates of ``h_u``; ``center=True`` measures the user's average film from the
average user's instead. Matching is the cosine of two such vectors over the same
terms. Its terms explain it: with unit vectors, ``cos(h_u, x_i) = sum_t c_t``, ``c_t = (h_u)_t (x_i)_t /
(|h_u| |x_i|)``, so the terms with the largest ``c_t`` are the keywords that matched.

Seed 004 instead turns the word lists into lists of vocabulary indices and takes the cosine of those
(:func:`seed_index_cosine`): a word's id is an arbitrary number, so that cosine measures nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xlrec_lib.data.text import letter_words

# articles, prepositions and pronouns of English titles, and the articles of the French, Spanish, Italian and German
# titles MovieLens holds ("Cité des enfants perdus, La"): words that say nothing about a film
STOPWORDS = frozenset(
    "a an the and or of in on at to for with from by as is it its be are this that my your his her our their "
    "i you he she we they me him us them what who how when where why not no nor so do don t s ii iii "
    "la le les l un une des du de et el los las il lo der die das den und ein eine".split()
)


@dataclass(frozen=True)
class KeywordSpace:
    """``matrix`` (n_items, n_terms) float32 CSR with unit rows (an item without a kept term: a zero row), row ``j``
    for ``item_ids[j]``; ``terms`` (n_terms,) the keywords, ``idf`` (n_terms,) their weights."""

    matrix: sp.csr_matrix
    item_ids: np.ndarray
    terms: np.ndarray
    idf: np.ndarray

    def is_tag(self) -> np.ndarray:
        """``(n_terms,)`` bool: which terms are knowledge-graph tags (``relation=entity``)."""
        return np.char.find(self.terms.astype(str), "=") >= 0


def title_words(title: str, stopwords=STOPWORDS) -> list[str]:
    """Lower-cased letter words of a title without stop words and one-letter words: ``"Shawshank Redemption, The"``
    -> ``["shawshank", "redemption"]``."""
    if not isinstance(title, str):
        raise ValueError(f"title must be a str, got {type(title).__name__} {title!r:.40}")
    return [w for w in letter_words(title) if len(w) > 1 and w not in stopwords]


def kg_tag_terms(kg: pd.DataFrame, links: pd.DataFrame) -> dict:
    """``{item id: ["actor=m.0x", ...]}`` from triples whose head is an item's entity (the relation's last part)."""
    for frame, cols, name in ((kg, ["head", "relation", "tail"], "kg"), (links, ["item_id", "entity_id"], "links")):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name}: missing column(s) {missing}; has {list(frame.columns)}")
    pairs = kg.merge(links, left_on="head", right_on="entity_id")
    terms = pairs["relation"].str.rsplit(".", n=1).str[-1] + "=" + pairs["tail"]
    return terms.groupby(pairs["item_id"]).agg(list).to_dict()


def item_keywords(items: pd.DataFrame, tags: Mapping | None = None, stopwords=STOPWORDS) -> list[list[str]]:
    """Each item's keywords, in ``items`` order: :func:`title_words`, lower-cased genre names, and its ``tags``
    (item id -> list of terms, e.g. :func:`kg_tag_terms`; none when absent)."""
    missing = [c for c in ("item_id", "title", "genres") if c not in items.columns]
    if missing:
        raise ValueError(f"items: missing column(s) {missing}; has {list(items.columns)}")
    tags = tags or {}
    return [title_words(title, stopwords) + [g.lower() for g in genres] + list(tags.get(item, []))
            for item, title, genres in zip(items["item_id"], items["title"], items["genres"], strict=True)]


def tfidf(docs: Sequence[Sequence[str]], item_ids, min_df: int = 2, sublinear: bool = True, idf: bool = True,
          kg_weight: float = 1.0) -> KeywordSpace:
    """TF-IDF keyword vectors of ``docs`` (one list of terms per item), see the module docstring; terms sorted."""
    if isinstance(docs, str) or any(isinstance(d, str) for d in docs):
        raise ValueError("docs must be one list of terms per item, not a string")
    if len(docs) != len(item_ids):
        raise ValueError(f"{len(docs)} docs for {len(item_ids)} item_ids")
    if isinstance(min_df, bool) or not isinstance(min_df, (int, np.integer)) or min_df < 1:
        raise ValueError(f"min_df must be an integer >= 1, got {min_df!r}")
    if not (kg_weight >= 0 and np.isfinite(kg_weight)):
        raise ValueError(f"kg_weight must be a finite number >= 0, got {kg_weight!r}")
    vocab = np.array(sorted({t for doc in docs for t in doc}), dtype=object)
    column = {t: j for j, t in enumerate(vocab)}
    rows = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
    cols = np.fromiter((column[t] for d in docs for t in d), dtype=np.int64, count=len(rows))
    counts = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), len(vocab)))
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=len(vocab))
    tag = np.array(["=" in t for t in vocab], dtype=bool)
    keep = np.flatnonzero((df >= min_df) & ~(tag & (kg_weight == 0)))  # kg_weight 0: the tags are dropped
    counts, df, vocab, tag = counts[:, keep].tocsr(), df[keep], vocab[keep], tag[keep]
    if sublinear:
        counts.data = 1.0 + np.log(counts.data)
    weights = np.log((1 + len(docs)) / (1 + df)) + 1 if idf else np.ones(len(df))
    x = (counts @ sp.diags(weights * np.where(tag, kg_weight, 1.0))).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1))).ravel()
    x = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ x
    return KeywordSpace(x.tocsr().astype(np.float32), np.asarray(item_ids), vocab, weights)


def user_vectors(history, space: KeywordSpace, center: bool = False) -> np.ndarray:
    """Interest vectors ``H = W X``: ``(n_users, n_items)`` history weights (sparse or dense) -> ``(n_users,
    n_terms)`` float32.

    ``center=True`` measures each user from the average user: ``h_u / n_u - mean_v (h_v / n_v)``, with ``n_u =
    sum_i W_ui`` the weight of the history (0 for an empty one, whose row is then ``-mean``). ``h_u / n_u`` is the
    user's *average* film, so a long history and a short one with the same mix of keywords get the same vector, and
    a coordinate says how much more (or less) of a keyword this user's average film holds than the average user's;
    what every history shares (the common genres) no longer dominates the cosine. The weights must be >= 0."""
    w = history if sp.issparse(history) else np.asarray(history)
    if w.ndim != 2 or w.shape[1] != space.matrix.shape[0]:
        raise ValueError(f"history must be (n_users, {space.matrix.shape[0]}), got shape {w.shape}")
    out = space.matrix.T @ w.T  # (n_terms, n_users): sparse @ (sparse or dense)
    h = np.asarray(out.toarray() if sp.issparse(out) else out, dtype=np.float32).T
    if not center:
        return h
    if w.shape[0] < 2:
        raise ValueError(f"user_vectors(center=True) needs at least 2 users to define an average, got {w.shape[0]}")
    if (w.min() if w.size else 0) < 0:
        raise ValueError("user_vectors(center=True) needs history weights >= 0: a user's average film is undefined")
    n = np.asarray(w.sum(axis=1), dtype=np.float32).reshape(-1, 1)
    average = h / np.where(n > 0, n, 1)
    return average - average.mean(axis=0, keepdims=True)


def top_terms(vectors: np.ndarray, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Per row, the column indices of its ``n`` largest positive values, largest first (-1 pads a row with fewer);
    ``allowed`` (n_terms,) or (n_rows, n_terms) bool restricts the candidates. Ties: lower column first."""
    v = np.array(vectors, dtype=np.float64, ndmin=2)
    if allowed is not None:
        v = np.where(np.broadcast_to(allowed, v.shape), v, -np.inf)
    order = np.argsort(-v, axis=1, kind="stable")[:, :n]
    return np.where(np.take_along_axis(v, order, axis=1) > 0, order, -1)


def top_keywords(vector: np.ndarray, terms: np.ndarray, n: int = 10) -> list[tuple[str, float]]:
    """``[(term, weight), ...]`` of one interest vector's ``n`` largest positive coordinates."""
    v = np.asarray(vector, dtype=np.float64).ravel()
    if len(v) != len(terms):
        raise ValueError(f"vector has {len(v)} coordinates for {len(terms)} terms")
    return [(str(terms[j]), float(v[j])) for j in top_terms(v, n)[0] if j >= 0]


def contributions(user: np.ndarray, item: np.ndarray) -> np.ndarray:
    """``c_t = u_t x_t / (|u| |x|)`` for one user and one item vector ``(n_terms,)``: they sum to ``cos(u, x)``
    (all 0 when either vector is zero)."""
    u, x = np.asarray(user, dtype=np.float64).ravel(), np.asarray(item, dtype=np.float64).ravel()
    if u.shape != x.shape:
        raise ValueError(f"user and item vectors differ in length: {u.shape} and {x.shape}")
    denom = np.linalg.norm(u) * np.linalg.norm(x)
    return u * x / denom if denom > 0 else np.zeros_like(u)


def explain(user: np.ndarray, item: np.ndarray, terms: np.ndarray, n: int = 3) -> list[tuple[str, float]]:
    """The keywords that matched: ``[(term, c_t), ...]``, the ``n`` terms with the largest positive contribution
    to ``cos(user, item)`` (:func:`contributions`); empty when the two share no term."""
    c = contributions(user, item)
    return [(str(terms[j]), float(c[j])) for j in top_terms(c, n)[0] if j >= 0]


def seed_index_cosine(user_words: Sequence[str], item_words: Sequence[str], word_index: Mapping[str, int]) -> float:
    """Seed 004's ``user_item_matching``, made to run: each word list becomes the list of its vocabulary indices
    (``word_index.get(word, 0)``), the item's words are first filtered to the user's words (its
    ``generate_item_description``), the shorter list is padded with zeros (``cosine_similarity`` refuses lists of
    different lengths) and the cosine of the two index lists is returned (0 for an empty one). Kept to show the
    defect: renumbering the vocabulary changes every score."""
    if isinstance(user_words, str) or isinstance(item_words, str):
        raise ValueError("user_words and item_words must be lists of words, not strings")
    words = set(user_words)
    u = [word_index.get(w, 0) for w in user_words]
    x = [word_index.get(w, 0) for w in item_words if w in words]
    n = max(len(u), len(x))
    a = np.array(u + [0] * (n - len(u)), dtype=np.float64)
    b = np.array(x + [0] * (n - len(x)), dtype=np.float64)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else 0.0
