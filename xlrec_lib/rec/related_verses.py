"""Related-verse recommendation: the Bible's cross-references as relevance labels, in any pair of languages.

A reader is on verse ``q`` in language A; we recommend ``k`` verses of the catalogue in language B. The labels
are the human-curated cross-references (``data.bible.verse_cross_references``, taken as undirected pairs). Splits
are by whole book, as everywhere in the course (``lm.corpus``; by default Mark for validation, John and Psalms for
test, ``corpus.RELATED_TEST_BOOKS``: John alone holds 342 verses with a cross-reference, fewer than the thousand
queries the protocol asks for):

- catalogue: the verse ids given (those present in every language used), each a candidate for every query except
  the query's own verse (in language B it is the query's translation, not a recommendation);
- queries: catalogue verses of the test (validation) books with at least one cross-reference in the catalogue;
  relevant: those cross-references (never the query itself);
- training edges: the cross-references with *neither* end in a held-out (test or validation) book, both ends in
  the catalogue. A query's own edges are its labels, so a query has no training edge at all.

Scores of a query ``q`` and a catalogue verse ``j``, ``A`` the ``(n, n)`` training adjacency (1 per edge):

- text: ``cos(h_q, h_j)`` of any encoder (``rank_related(query_vectors=..., catalogue_vectors=...)``), or with
  chapter 4's hub correction, CSLS: ``2 cos(h_q, h_j) - r(j)``, ``r(j)`` the mean cosine of ``j`` to its ``k``
  nearest verses of the query language (:func:`hub_scores`, :class:`CSLSText`);
- co-citation: ``C_ij = |N(i) & N(j)| / (sqrt(deg_i deg_j) + shrink)``, ``C_ii = 0``: the cosine of the adjacency
  rows, i.e. ``rec.cf.item_knn``'s similarity with verses citing verses as the "users", kept sparse;
- graph through text neighbours: ``g(q, j) = sum_{i in N_n(q)} max(cos(h_q, h_i), 0) M_ij`` with ``M = A`` or
  ``C`` and ``N_n(q)`` the ``n`` verses nearest to ``q`` *among those with a training edge*: the only way the
  graph reaches a query, which has no edges of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from xlrec_lib.data.bible import book_numbers
from xlrec_lib.lm import corpus
from xlrec_lib.rec import ranking_metrics
from xlrec_lib.rec.ranking_metrics import require_columns
from xlrec_lib.rec.similarity import finite_matrix
from xlrec_lib.rec.topk import topk, topk_dense, topk_to_ranked
from xlrec_lib.vectors import first_non_unit_row, positive_int

SPLITS = ("test", "valid")


def _verse_ids(values, name: str) -> np.ndarray:
    """``values`` as an int64 array of verse ids (book 1..66), or a ValueError naming ``name`` and the bad value."""
    ids = np.asarray(values)
    if ids.ndim != 1 or (len(ids) and ids.dtype.kind not in "iu"):
        raise ValueError(f"{name} must be a 1-D array of integer verse ids, got dtype {ids.dtype} shape {ids.shape}")
    ids = ids.astype(np.int64)
    book = ids // 1_000_000
    bad = (book < 1) | (book > 66)
    if bad.any():
        raise ValueError(f"{name}: {int(ids[bad][0])} is not a verse id (book * 1_000_000 + chapter * 1_000 + verse)")
    return ids


@dataclass(frozen=True, eq=False)
class RelatedVerseTask:
    """The related-verse task (module docstring). Verse ids are int64; ``catalogue`` is ascending and a verse's
    position in it is its row in every ``(n_queries, n_catalogue)`` score matrix."""

    catalogue: np.ndarray  # (n_catalogue,) verse ids
    test_queries: np.ndarray  # (n_test,) verse ids, ascending
    valid_queries: np.ndarray  # (n_valid,)
    relevant: dict[int, frozenset[int]]  # every query (test and valid) -> its cross-references in the catalogue
    train_edges: np.ndarray  # (n_edges, 2) verse ids, each undirected pair once per direction
    test_books: tuple[int, ...]
    valid_books: tuple[int, ...]
    dropped: dict[str, int] = field(default_factory=dict)  # what the catalogue cut away, by reason

    @property
    def held_out_books(self) -> tuple[int, ...]:
        return self.test_books + self.valid_books

    def queries(self, split: str) -> np.ndarray:
        """``"test"`` or ``"valid"`` -> that split's query verse ids."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self.test_queries if split == "test" else self.valid_queries

    def _query_ids(self, queries) -> np.ndarray:
        return self.queries(queries) if isinstance(queries, str) else _verse_ids(queries, "queries")

    def index(self, verse_ids) -> np.ndarray:
        """Catalogue positions of ``verse_ids`` ``(n,)``; an id outside the catalogue is a ValueError."""
        ids = _verse_ids(verse_ids, "verse_ids")
        pos = np.searchsorted(self.catalogue, ids).clip(max=len(self.catalogue) - 1)
        missing = self.catalogue[pos] != ids
        if missing.any():
            raise ValueError(f"verse {int(ids[missing][0])} is not in the catalogue ({missing.sum()} of {len(ids)} "
                             "ids are not)")
        return pos

    def relevant_for(self, queries) -> dict[int, set[int]]:
        """``{query: set of relevant verse ids}`` of ``queries`` (a split name or verse ids), for the metrics;
        a verse that is not a query of this task is a ValueError."""
        ids = self._query_ids(queries)
        unknown = [int(q) for q in ids if int(q) not in self.relevant]
        if unknown:
            raise ValueError(f"verse {unknown[0]} is not a query of this task ({len(unknown)} of {len(ids)} are "
                             "not): queries are held-out verses with a cross-reference in the catalogue")
        return {int(q): set(self.relevant[int(q)]) for q in ids}

    def exclude_own(self, queries) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, catalogue positions)`` of each query's own verse, for ``exclude=`` of ``rec.topk`` and
        ``rec.fusion``: the query's verse is never a candidate."""
        ids = self._query_ids(queries)
        return np.arange(len(ids)), self.index(ids)

    def adjacency(self) -> sp.csr_matrix:
        """``A (n_catalogue, n_catalogue)`` float32 CSR: 1 for each training edge (symmetric, zero diagonal)."""
        n = len(self.catalogue)
        rows, cols = self.index(self.train_edges[:, 0]), self.index(self.train_edges[:, 1])
        return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n))

    def summary(self) -> dict[str, int]:
        """Counts for a table: catalogue size, queries and relevant pairs per split, training edges (undirected)."""
        out = {"catalogue": len(self.catalogue), "train_edges": len(self.train_edges) // 2}
        for split in SPLITS:
            q = self.queries(split)
            out[f"{split}_queries"] = len(q)
            out[f"{split}_relevant"] = sum(len(self.relevant[int(v)]) for v in q)
        return out | self.dropped


def related_verse_task(verse_ids, cross_references: pd.DataFrame, test_books=corpus.RELATED_TEST_BOOKS,
                       valid_books=corpus.VALID_BOOKS) -> RelatedVerseTask:
    """Build the task (module docstring) from the catalogue's ``verse_ids`` (e.g. ``parallel_verses(langs)
    ["verse_id"]``) and ``cross_references`` (``verse_id, related_id``, e.g. ``verse_cross_references()``).

    Pairs are undirected; a self-reference is ignored. ``dropped`` counts undirected pairs with an end outside the
    catalogue (``pairs_outside_catalogue``), validation links into a test book (``valid_pairs_into_test``: the same
    pair is a test label, so it is no validation label), held-out verses with a cross-reference that are not in the
    catalogue themselves (``queries_outside_catalogue``), and held-out catalogue verses left with no relevant verse
    (``queries_without_relevant``: every cross-reference outside the catalogue, or, for a validation verse, every
    one into a test book).
    """
    catalogue = np.unique(_verse_ids(verse_ids, "verse_ids"))
    if len(catalogue) == 0:
        raise ValueError("related_verse_task: the catalogue is empty")
    test_books = book_numbers(test_books, "test_books", allow_empty=False)
    valid_books = book_numbers(valid_books, "valid_books", allow_empty=False)
    if set(test_books) & set(valid_books):
        raise ValueError(f"test_books {test_books} and valid_books {valid_books} share a book")
    require_columns(cross_references, ["verse_id", "related_id"], "related_verse_task: cross_references")
    a = _verse_ids(cross_references["verse_id"].to_numpy(), "cross_references['verse_id']")
    b = _verse_ids(cross_references["related_id"].to_numpy(), "cross_references['related_id']")
    pairs = np.unique(np.sort(np.stack([a, b], 1)[a != b], axis=1), axis=0)  # undirected, each once
    held_books = test_books + valid_books
    linked = np.unique(pairs)  # every verse with a cross-reference
    linked_held = linked[np.isin(linked // 1_000_000, held_books)]
    inside = np.isin(pairs, catalogue).all(1)
    both = np.concatenate([pairs[inside], pairs[inside][:, ::-1]])  # each kept pair in both directions
    held = np.isin(both // 1_000_000, held_books)
    frame = pd.DataFrame(both[held[:, 0]], columns=["q", "r"])
    # a validation verse's link into a test book is the same pair as a test label: never choose anything on it
    into_test = np.isin(frame["q"] // 1_000_000, valid_books) & np.isin(frame["r"] // 1_000_000, test_books)
    frame = frame[~into_test]
    relevant = {int(q): frozenset(r.tolist()) for q, r in frame.groupby("q")["r"]}
    queries = np.array(sorted(relevant), dtype=np.int64)
    train = both[~held.any(1)]
    n_held_inside = int(np.isin(linked_held, catalogue).sum())
    return RelatedVerseTask(
        catalogue=catalogue, test_queries=queries[np.isin(queries // 1_000_000, test_books)],
        valid_queries=queries[np.isin(queries // 1_000_000, valid_books)],
        relevant=relevant, train_edges=train[np.lexsort((train[:, 1], train[:, 0]))], test_books=test_books,
        valid_books=valid_books,
        dropped={"pairs_outside_catalogue": int((~inside).sum()),
                 "valid_pairs_into_test": int(into_test.sum()),
                 "queries_without_relevant": n_held_inside - len(queries),
                 "queries_outside_catalogue": len(linked_held) - n_held_inside},
    )


def sample_test_queries(task: RelatedVerseTask, n: int, seed: int = 0, keep=()) -> RelatedVerseTask:
    """The same task with ``n`` of its test queries, drawn uniformly at random (``seed``) without looking at the
    labels, for quick runs; ``keep``: a list of queries always in the sample (a worked example). A new task:
    catalogue, labels, training edges and validation queries unchanged, ``dropped["test_queries_not_sampled"]``
    adding the queries left out (0 when ``n`` is at least the number of test queries: all are kept)."""
    n = positive_int(n, "sample_test_queries: n")
    if np.ndim(keep) != 1:
        raise ValueError(f"sample_test_queries: keep must be a list of verse ids, got {keep!r}")
    keep = np.unique(_verse_ids(list(keep), "keep"))
    missing = keep[~np.isin(keep, task.test_queries)]
    if len(missing):
        raise ValueError(f"sample_test_queries: verse {int(missing[0])} in keep is not a test query of this task")
    if len(keep) > n:
        raise ValueError(f"sample_test_queries: keep holds {len(keep)} queries, more than n={n}")
    chosen = task.test_queries
    if n < len(chosen):
        rest = chosen[~np.isin(chosen, keep)]
        drawn = np.random.default_rng(seed).choice(rest, size=n - len(keep), replace=False)
        chosen = np.sort(np.concatenate([keep, drawn]))
    left_out = task.dropped.get("test_queries_not_sampled", 0) + len(task.test_queries) - len(chosen)
    return replace(task, test_queries=chosen, dropped=dict(task.dropped, test_queries_not_sampled=left_out))


def sample_catalogue(verse_ids, size: int, test_books=corpus.RELATED_TEST_BOOKS, valid_books=corpus.VALID_BOOKS,
                     seed: int = 0) -> np.ndarray:
    """A smaller catalogue for quick runs (sorted verse ids): every verse of the held-out books, and verses drawn
    uniformly at random (``seed``) from the rest up to ``size``. The labels play no part in the draw (a sample that
    kept the verses the queries cite would hand the graph and the text their answers); the relevant sets then
    shrink to what the sample holds, and queries with none left drop out. Its numbers do not compare with the
    whole catalogue's."""
    ids = np.unique(_verse_ids(verse_ids, "verse_ids"))
    held = (book_numbers(test_books, "test_books", allow_empty=False)
            + book_numbers(valid_books, "valid_books", allow_empty=False))
    must = ids[np.isin(ids // 1_000_000, held)]
    if size < len(must):
        raise ValueError(f"sample_catalogue: size {size} is below the {len(must)} verses of the held-out books")
    rest = ids[~np.isin(ids // 1_000_000, held)]
    extra = np.random.default_rng(seed).choice(rest, size=min(size - len(must), len(rest)), replace=False)
    return np.sort(np.concatenate([must, extra]))


def _check_graph(graph, n: int, name: str = "graph") -> sp.csr_matrix:
    """``graph`` as a float32 CSR copy with its explicit zeros removed and duplicates summed (a stored 0 is no
    edge), or a ValueError: not sparse, not ``(n, n)``, a negative or non-finite weight."""
    if not sp.issparse(graph):
        raise ValueError(f"{name} must be a scipy sparse matrix, got {type(graph).__name__}")
    g = sp.csr_matrix(graph, dtype=np.float32, copy=True)
    g.sum_duplicates()
    g.eliminate_zeros()
    want = (n, n) if n else (g.shape[0], g.shape[0])
    if g.shape != want:
        raise ValueError(f"{name} must be square, (n_catalogue, n_catalogue) = {want}, got {g.shape}")
    if not np.isfinite(g.data).all() or (g.data < 0).any():
        raise ValueError(f"{name} must hold finite non-negative weights")
    return g


def cocitation(adjacency, shrink: float = 0.0) -> sp.csr_matrix:
    """``C (n, n)`` float32 CSR from a symmetric adjacency ``(n, n)`` (binarised): ``C_ij = |N(i) & N(j)| /
    (sqrt(deg_i deg_j) + shrink)``, 0 on the diagonal (module docstring). Only pairs sharing a neighbour are stored.
    """
    if shrink < 0:
        raise ValueError(f"cocitation: shrink must be >= 0, got {shrink}")
    a = _check_graph(adjacency, 0, "adjacency")  # a copy: binarised below, never the caller's matrix
    if (a != a.T).nnz:
        raise ValueError("cocitation: adjacency must be symmetric (cross-references are undirected)")
    a.data[:] = 1.0
    common = (a @ a).tocoo()  # (A A)_ij = number of verses linked to both i and j
    deg = np.asarray(a.sum(1)).ravel()
    keep = common.row != common.col
    r, c, v = common.row[keep], common.col[keep], common.data[keep]
    v = v / (np.sqrt(deg[r] * deg[c]) + shrink)
    return sp.csr_matrix((v.astype(np.float32), (r, c)), shape=a.shape)


def graph_via_text(query_vectors, catalogue_vectors, graph, n_neighbors: int = 20, own=None,
                   chunk: int = 256) -> torch.Tensor:
    """``g (n_queries, n_catalogue)`` float32: ``g_qj = sum_{i in N_n(q)} max(cos(h_q, h_i), 0) graph_ij``.

    ``query_vectors (n_queries, d)``, ``catalogue_vectors (n_catalogue, d)``; ``graph (n_catalogue,
    n_catalogue)`` sparse (``task.adjacency()`` or :func:`cocitation`). ``N_n(q)``: the ``n_neighbors`` verses
    nearest to ``q`` by cosine (the library's exact top-k) among those with an edge in ``graph``: a verse without
    one would add nothing, and held-out verses never have one. ``own (n_queries,)``: each query's catalogue
    position, never its own neighbour. Rows are filled ``chunk`` queries at a time, so beyond the output only a
    ``(chunk, n_catalogue)`` sparse product is held. For a cross-lingual cell A -> B pass the catalogue in B:
    neighbours found in the query's own language A would step around the cross-lingual gap, which the parallel
    Bible allows and a real catalogue does not. The result lies on the query vectors' device.
    """
    q = finite_matrix(query_vectors, "query_vectors").float()
    items = finite_matrix(catalogue_vectors, "catalogue_vectors").float()
    positive_int(chunk, "chunk")
    if q.shape[1] != items.shape[1]:
        raise ValueError(f"query_vectors have dim {q.shape[1]} but catalogue_vectors have dim {items.shape[1]}")
    n_cat = items.shape[0]
    g = _check_graph(graph, n_cat)
    positive_int(n_neighbors, "n_neighbors")
    connected = np.flatnonzero(g.getnnz(axis=1) > 0)
    if len(connected) == 0:
        raise ValueError("graph_via_text: the graph has no edge")
    exclude = None
    if own is not None:
        own = np.asarray(own)
        if own.shape != (len(q),):
            raise ValueError(f"own must hold one catalogue position per query ({len(q)},), got {own.shape}")
        if len(own) and own.dtype.kind not in "iu":
            raise ValueError(f"own must hold integer catalogue positions, got dtype {own.dtype}")
        own = own.astype(np.int64)
        bad = (own < 0) | (own >= n_cat)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"own[{i}] = {int(own[i])} is not a catalogue position (0 to {n_cat - 1}): pass "
                             "task.index(query verse ids)")
        slot = np.full(n_cat, -1)
        slot[connected] = np.arange(len(connected))
        rows = np.flatnonzero(slot[own] >= 0)
        exclude = (rows, slot[own[rows]])
    found = topk(q, items[torch.from_numpy(connected)], min(n_neighbors, len(connected)), exclude, metric="cosine")
    ids = found.ids.cpu().numpy()
    weights = np.where(ids >= 0, found.scores.cpu().numpy().clip(min=0), 0).astype(np.float32)
    cols = connected[ids.clip(min=0)]
    out = torch.zeros(len(q), n_cat)
    for start in range(0, len(q), chunk):
        stop = min(len(q), start + chunk)
        w = sp.csr_matrix((weights[start:stop].ravel(), (np.repeat(np.arange(stop - start), ids.shape[1]),
                                                          cols[start:stop].ravel())), shape=(stop - start, n_cat))
        out[start:stop] = torch.from_numpy((w @ g).toarray())
    return out.to(q.device)


def rank_related(task: RelatedVerseTask, queries, k: int = 10, *, scores=None, query_vectors=None,
                 catalogue_vectors=None) -> dict[int, list[int]]:
    """``{query verse id: [k recommended verse ids]}``, best first, the query's own verse never among them.

    ``queries``: ``"test"``, ``"valid"`` or verse ids of the catalogue. Ranks either ``scores (n_queries,
    n_catalogue)`` (``rec.topk.topk_dense``, float64 kept) or the cosine of ``query_vectors (n_queries, d)`` and
    ``catalogue_vectors (n_catalogue, d)`` (``rec.topk.topk``); equal scores: the lower verse id first. A query given
    twice is a ValueError (the lists are keyed by verse id).
    """
    ids = task._query_ids(queries)
    exclude = task.exclude_own(ids)
    if (scores is None) == (query_vectors is None and catalogue_vectors is None):
        raise ValueError("rank_related: give either scores, or query_vectors and catalogue_vectors")
    n_cat = len(task.catalogue)
    if scores is not None:
        s = torch.as_tensor(scores)
        if tuple(s.shape) != (len(ids), n_cat):
            raise ValueError(f"scores must be (n_queries, n_catalogue) = ({len(ids)}, {n_cat}), got "
                             f"{tuple(s.shape)}")
        found = topk_dense(s, k, exclude)  # float64 kept: float32 rounding can tie distinct fused scores
    else:
        if query_vectors is None or catalogue_vectors is None:
            raise ValueError("rank_related: give both query_vectors and catalogue_vectors")
        qv, cv = torch.as_tensor(query_vectors), torch.as_tensor(catalogue_vectors)
        if qv.ndim != 2 or qv.shape[0] != len(ids) or cv.ndim != 2 or cv.shape[0] != n_cat:
            raise ValueError(f"query_vectors must be ({len(ids)}, d) and catalogue_vectors ({n_cat}, d), got "
                             f"{tuple(qv.shape)} and {tuple(cv.shape)}")
        found = topk(qv, cv, k, exclude, metric="cosine")
    return topk_to_ranked(found.ids, ids.tolist(), task.catalogue)


def evaluate_related(task: RelatedVerseTask, queries="test", k: int = 10, *, scores=None, query_vectors=None,
                     catalogue_vectors=None, per_query: bool = False):
    """``{"R@k", "NDCG@k", "MRR@k"}`` of :func:`rank_related`'s lists against the queries' cross-references
    (``rec.ranking_metrics``, means over queries); with ``per_query`` a DataFrame, one row per query (for
    intervals and per-book tables)."""
    ranked = rank_related(task, queries, k, scores=scores, query_vectors=query_vectors,
                          catalogue_vectors=catalogue_vectors)
    relevant = task.relevant_for(list(ranked))
    metrics = {f"R@{k}": ranking_metrics.recall_at_k, f"NDCG@{k}": ranking_metrics.ndcg_at_k,
               f"MRR@{k}": ranking_metrics.mrr}
    if per_query:
        return pd.DataFrame({name: fn(ranked, relevant, k, per_user=True) for name, fn in metrics.items()})
    return {name: fn(ranked, relevant, k) for name, fn in metrics.items()}


def queries_per_book(task: RelatedVerseTask, names: dict[int, str] | None = None) -> pd.Series:
    """Number of queries of each held-out book (index: book name from ``names``, else number), test books first."""
    q = np.concatenate([task.test_queries, task.valid_queries])
    counts = {}
    for book in task.held_out_books:
        counts[names.get(book, book) if names else book] = int((q // 1_000_000 == book).sum())
    return pd.Series(counts, name="queries")


# --- one language pair, and every pair ----------------------------------------------------------------------------


def text_scores(task: RelatedVerseTask, queries, query_vectors, catalogue_vectors) -> torch.Tensor:
    """``(n_queries, n_catalogue)`` cosine of each query, encoded in language A, with every catalogue verse in B.
    ``query_vectors`` and ``catalogue_vectors``: the whole catalogue encoded in A and in B, ``(n_catalogue, d)``
    unit rows in ``task.catalogue`` order (the queries are catalogue verses: their rows are taken from A)."""
    a = _unit_rows(query_vectors, "query_vectors")
    b = _unit_rows(catalogue_vectors, "catalogue_vectors")
    n = len(task.catalogue)
    if a.shape[0] != n or b.shape[0] != n or a.shape[1] != b.shape[1]:
        raise ValueError(f"query_vectors and catalogue_vectors must both be (n_catalogue, d) = ({n}, d); got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    return a[torch.from_numpy(task.index(task._query_ids(queries)))] @ b.T


def _unit_rows(x, name: str) -> torch.Tensor:
    """``x`` as a finite float32 matrix whose rows have norm 1 (or 0: a text without tokens), else a ValueError:
    the dot product is the cosine only on unit rows, and a longer row would win every ranking."""
    t = finite_matrix(x, name).float()
    if (off := first_non_unit_row(t)) is not None:
        raise ValueError(f"{name} row {off[0]} has norm {off[1]:.4f}, not 1: normalise the rows "
                         "(torch.nn.functional.normalize(x, dim=1)) or encode with cached_encode")
    return t


def _hub_inputs(source_vectors, catalogue_vectors, k) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The checked inputs of :func:`hub_scores`: two float32 unit-row matrices of one shape ``(n, d)``, and ``k``."""
    a = _unit_rows(source_vectors, "source_vectors")
    b = _unit_rows(catalogue_vectors, "catalogue_vectors")
    if a.shape != b.shape:
        raise ValueError(f"source_vectors {tuple(a.shape)} and catalogue_vectors {tuple(b.shape)} must both be "
                         "(n_catalogue, d), row i the same verse")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < len(a):
        raise ValueError(f"hub_scores: k must be an integer from 1 to n_catalogue - 1 = {len(a) - 1}, got {k!r}")
    return a, b, int(k)


def hub_scores(source_vectors, catalogue_vectors, k: int = 10, chunk: int = 2048) -> torch.Tensor:
    """``r (n_catalogue,)``: the mean cosine of each catalogue verse in language B (``catalogue_vectors (n, d)``) to its
    ``k`` nearest verses of the catalogue in language A (``source_vectors (n, d)``, row ``i`` the same verse in A:
    the population the queries come from), the translation of ``j`` itself left out (it would be ``j``'s nearest
    neighbour for most verses, and measure alignment, not crowding). A verse near everything in A, a hub, has a high
    ``r``. Unit rows (:func:`text_scores`); ``chunk`` rows of
    B at a time, so beyond the output only a ``(chunk, n)`` block is held."""
    a, b, k = _hub_inputs(source_vectors, catalogue_vectors, k)
    positive_int(chunk, "chunk")
    from xlrec_lib.config import device

    dev = device()  # 36 (n, n) products for a grid: a GPU, when present, takes them
    a_dev, out = a.to(dev), torch.empty(len(b))
    for start in range(0, len(b), chunk):
        sim = b[start:start + chunk].to(dev) @ a_dev.T
        rows = torch.arange(sim.shape[0], device=dev)
        sim[rows, rows + start] = -float("inf")  # its own verse
        out[start:start + chunk] = sim.topk(int(k), dim=1).values.mean(1).cpu()
    return out


HUBS_VERSION = 1  # hub_scores: bumped with its results (part of the cache key of cached_hub_scores)
HUBS_FILE = "hubs.safetensors"


def cached_hub_scores(source_vectors, catalogue_vectors, k: int = 10) -> torch.Tensor:
    """:func:`hub_scores` ``(n,)`` of ``source_vectors`` and ``catalogue_vectors`` ``(n, d)``, stored as safetensors
    through ``xlrec_lib.cache`` under a digest of ``k`` and of both matrices as :func:`hub_scores` reads them
    (float32 unit rows, shape and bytes), and read back (checked) on the next call with the same vectors. Where they
    were computed (CPU or GPU, which may differ in the last bits) is not part of the key. One call costs an
    ``(n, n)`` product (7.6 s for 31,032 random rows of 512 dimensions on the two-core build machine, 2026-12-06),
    and a grid makes one per cell: the cache is what makes a rerun of a chapter cheap."""
    from safetensors.torch import load, save_file

    from xlrec_lib import cache

    a, b, k = _hub_inputs(source_vectors, catalogue_vectors, k)
    vectors = cache.tensors_digest([("source", a), ("catalogue", b)])
    name = f"hubs-k{k}-{cache.fingerprint({'vectors': vectors, 'k': k}, {'hubs': HUBS_VERSION})}"

    def build(tmp) -> None:
        save_file({"hubs": hub_scores(a, b, k).contiguous()}, str(tmp / HUBS_FILE))

    def read(folder) -> torch.Tensor:  # a copy in memory, checked like a fresh result
        r = load((folder / HUBS_FILE).read_bytes())["hubs"]
        if r.shape != (len(b),) or r.dtype != torch.float32 or not torch.isfinite(r).all():
            raise ValueError(f"{folder / HUBS_FILE}: expected {len(b)} finite float32 hub scores, got shape "
                             f"{tuple(r.shape)} of {r.dtype}; delete the folder to compute them again")
        return r

    return cache.load_or_build(cache.artefact_dir("derived", name), build, read)


class CSLSText:
    """A text ``score_fn`` (for :func:`language_grid`, :func:`fused_score_fn`, :func:`alpha_grid`) with chapter 4's
    hub correction, CSLS: ``2 cos(h_q, h_j) - r(j)``, ``r`` of :func:`hub_scores` with ``k`` neighbours. CSLS also
    subtracts the query's own mean cosine to its ``k`` nearest candidates, the same for all of a query's candidates:
    it changes no ranking and is left out. ``r`` is computed once per pair of vector tensors and kept (with the
    tensors, which must not change in place afterwards); with ``use_cache`` it is also stored on disk
    (:func:`cached_hub_scores`), so that a rerun reads it back."""

    def __init__(self, k: int = 10, use_cache: bool = True):
        self.k = k
        self.use_cache = use_cache
        self._kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def hubs(self, source_vectors, catalogue_vectors) -> torch.Tensor:
        for a, b, r in self._kept:
            if a is source_vectors and b is catalogue_vectors:
                return r
        r = (cached_hub_scores if self.use_cache else hub_scores)(source_vectors, catalogue_vectors, self.k)
        self._kept.append((source_vectors, catalogue_vectors, r))
        return r

    def __call__(self, task: RelatedVerseTask, queries, query_vectors, catalogue_vectors) -> torch.Tensor:
        text = text_scores(task, queries, query_vectors, catalogue_vectors)  # checks the inputs before the hubs
        # in place: text is a new matrix, and two more of its size cost more to allocate than to fill
        return text.mul_(2).sub_(self.hubs(query_vectors, catalogue_vectors)[None, :])


def graph_scores(task: RelatedVerseTask, queries, query_vectors, catalogue_vectors, graph,
                 n_neighbors: int = 20) -> torch.Tensor:
    """:func:`graph_via_text` for a cell: each query (its row of ``query_vectors``, language A) reaches the graph
    through its ``n_neighbors`` nearest catalogue verses in language B (``catalogue_vectors``)."""
    own = task.index(task._query_ids(queries))
    a = finite_matrix(query_vectors, "query_vectors").float()
    if a.shape[0] != len(task.catalogue):
        raise ValueError(f"query_vectors must be the whole catalogue encoded in the query language, (n_catalogue, d) "
                         f"= ({len(task.catalogue)}, d); got {tuple(a.shape)} (the queries' rows are taken from it)")
    return graph_via_text(a[torch.from_numpy(own)], catalogue_vectors, graph, n_neighbors, own=own)


def fused_score_fn(graph, alpha: float, n_neighbors: int = 20, how: str = "zscore", text_fn=None):
    """A ``score_fn`` for :func:`language_grid`: ``fusion.fuse(graph score, text score, alpha)``, the chapter-8
    fusion ``P = N(graph) + alpha N(text)`` with each score standardised per query over its candidates. ``text_fn``:
    the text score (default :func:`text_scores`; e.g. :class:`CSLSText`); the graph is reached through cosine
    neighbours either way."""
    from xlrec_lib.rec.fusion import fuse

    text_fn = text_fn or text_scores

    def score(task, queries, query_vectors, catalogue_vectors):
        text = text_fn(task, queries, query_vectors, catalogue_vectors)
        g = graph_scores(task, queries, query_vectors, catalogue_vectors, graph, n_neighbors)
        return fuse(g, text, alpha, task.exclude_own(queries), how)

    return score


def alpha_grid(task: RelatedVerseTask, vectors: dict[str, torch.Tensor], graph, alphas, n_neighbors: int = 20,
               queries="valid", k: int = 10, how: str = "zscore", progress: bool = False,
               text_fn=None) -> pd.DataFrame:
    """nDCG@k of the fused score for every ``alpha`` (columns) in every language cell (rows ``(src, tgt)``), on
    ``queries`` (the validation books by default): choose alpha on it, never on the test books. ``text_fn``: as in
    :func:`fused_score_fn`."""
    from tqdm.auto import tqdm

    from xlrec_lib.rec.fusion import alpha_sweep

    ids = task._query_ids(queries)
    relevant = task.relevant_for(ids)
    exclude = task.exclude_own(ids)
    langs = list(vectors)
    out = {}
    for src, tgt in tqdm([(a, b) for a in langs for b in langs], desc="alpha sweep", disable=not progress):
        text = (text_fn or text_scores)(task, ids, vectors[src], vectors[tgt])
        g = graph_scores(task, ids, vectors[src], vectors[tgt], graph, n_neighbors)
        out[(src, tgt)] = alpha_sweep(g, text, alphas, exclude, relevant, ids.tolist(), task.catalogue.tolist(), k,
                                      how)
    return pd.DataFrame(out).T.rename_axis(["src", "tgt"])


def choose_alpha(task: RelatedVerseTask, vectors: dict[str, torch.Tensor], graph, alphas, n_neighbors: int = 20,
                 k: int = 10, text_fn=None) -> tuple[float, pd.DataFrame]:
    """The ``alpha`` of ``alphas`` with the best mean validation nDCG@k over every cell of ``vectors``, and the
    :func:`alpha_grid` it was read from (the test books are never looked at). ``text_fn``: as in
    :func:`fused_score_fn`."""
    if len(alphas) == 0:
        raise ValueError("choose_alpha: give at least one alpha")
    sweep = alpha_grid(task, vectors, graph, alphas, n_neighbors, queries="valid", k=k, text_fn=text_fn)
    if not np.isfinite(sweep.to_numpy()).all():
        raise ValueError(f"choose_alpha: the validation sweep holds non-finite nDCG values:\n{sweep}")
    return float(sweep.mean().idxmax()), sweep  # ties: the first alpha given


def language_grid(task: RelatedVerseTask, vectors: dict[str, torch.Tensor], score_fn=None, queries="test",
                  k: int = 10, progress: bool = False, per_query: bool = False):
    """Every ordered pair of languages ``(src, tgt)`` of ``vectors`` (``{lang: (n_catalogue, d)}``): the metrics of
    :func:`evaluate_related` for queries read in ``src`` and the catalogue in ``tgt``. ``score_fn(task, queries,
    src_vectors, tgt_vectors) -> (n_queries, n_catalogue)`` scores a cell (default :func:`text_scores`). Returns one
    row per cell: ``src, tgt, R@k, NDCG@k, MRR@k``; with ``per_query``, ``(that grid, nDCG@k of every query in every
    cell)``, the second indexed by query verse id with one column per ``(src, tgt)`` (for :func:`change_by_kind`)."""
    from tqdm.auto import tqdm

    score_fn = score_fn or text_scores
    langs = list(vectors)
    rows, cells = [], {}
    for src, tgt in tqdm([(a, b) for a in langs for b in langs], desc="language pairs", disable=not progress):
        scores = score_fn(task, queries, vectors[src], vectors[tgt])
        frame = evaluate_related(task, queries, k, scores=scores, per_query=True)
        # the mean over queries, as the metrics compute it without per_query
        rows.append({"src": src, "tgt": tgt, **{m: float(np.mean(frame[m].to_numpy())) for m in frame}})
        cells[(src, tgt)] = frame[f"NDCG@{k}"]
    grid = pd.DataFrame(rows)
    return (grid, pd.DataFrame(cells)) if per_query else grid


def _cells_by_kind(per_query: pd.DataFrame, who: str) -> dict[str, list[tuple[str, str]]]:
    """``{"monolingual": [...], "cross-lingual": [...]}``: the ``(src, tgt)`` columns of :func:`language_grid`'s
    per-query frame by kind, in column order; a column that is not a cell, or a kind with no cell, is a ValueError
    naming ``who``."""
    bad = [c for c in per_query.columns if not (isinstance(c, tuple) and len(c) == 2)]
    if bad:
        raise ValueError(f"{who}: columns must be (src, tgt) cells, as language_grid's per-query frame gives them; "
                         f"got column {bad[0]!r}")
    out = {kind: [c for c in per_query.columns if (c[0] == c[1]) == mono]
           for kind, mono in (("monolingual", True), ("cross-lingual", False))}
    for kind, cols in out.items():
        if not cols:
            raise ValueError(f"{who}: no {kind} cell among the columns {list(per_query.columns)}")
    return out


def change_by_kind(after: pd.DataFrame, before: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Mean change ``after - before`` of a per-query metric over the cross-lingual and the monolingual cells, with a
    paired 95% bootstrap interval over the queries. ``after``, ``before``: :func:`language_grid`'s per-query frames
    of two routes (index: query, columns: ``(src, tgt)``). Every cell holds the same queries, so each query's change
    is averaged over the cells of a kind first: the interval then carries the luck of the queries, which all the
    cells share. Rows ``cross-lingual``, ``monolingual``; columns ``change, low, high``."""
    from xlrec_lib.intervals import bootstrap_mean

    by_kind = _cells_by_kind(after, "change_by_kind")
    if not (after.index.equals(before.index) and set(after.columns) == set(before.columns)):
        raise ValueError("change_by_kind: after and before must hold the same queries (index) and cells (columns)")
    out = {}
    for kind in ("cross-lingual", "monolingual"):
        cols = by_kind[kind]
        per_query = (after[cols] - before[cols]).mean(axis=1).to_numpy()
        out[kind] = dict(zip(("change", "low", "high"), bootstrap_mean(per_query, seed=seed), strict=True))
    return pd.DataFrame(out).T


def mean_by_book(per_query: pd.DataFrame, names: dict[int, str] | None = None) -> pd.DataFrame:
    """A per-query metric of :func:`language_grid` (index: query verse id, columns ``(src, tgt)``) by the query's
    book: rows book (name from ``names``, else number), columns ``queries``, ``monolingual``, ``cross-lingual``
    (each query's mean over the cells of that kind, then the mean over the book's queries); books in the order
    their first query appears."""
    by_kind = _cells_by_kind(per_query, "mean_by_book")
    if per_query.empty:
        raise ValueError(f"mean_by_book: per_query holds no query or no cell (shape {per_query.shape})")
    book = _verse_ids(per_query.index.to_numpy(), "per_query's index") // 1_000_000
    frame = pd.DataFrame({"book": book, **{kind: per_query[by_kind[kind]].mean(axis=1).to_numpy()
                                           for kind in ("monolingual", "cross-lingual")}})
    out = frame.groupby("book", sort=False).agg(queries=("book", "size"), monolingual=("monolingual", "mean"),
                                               **{"cross-lingual": ("cross-lingual", "mean")})
    return out.rename(index=lambda b: names.get(b, b) if names else b)


def per_query_cell(task: RelatedVerseTask, vectors: dict[str, torch.Tensor], src: str, tgt: str, score_fn=None,
                   queries="test", k: int = 10) -> pd.Series:
    """nDCG@k of every query of one cell, queries read in ``src`` and the catalogue in ``tgt`` (index: query verse
    id, the same order for every route), for paired intervals between two routes."""
    scores = (score_fn or text_scores)(task, queries, vectors[src], vectors[tgt])
    return evaluate_related(task, queries, k, scores=scores, per_query=True)[f"NDCG@{k}"]


def crosslingual_penalty(grid: pd.DataFrame, metric: str = "NDCG@10") -> pd.DataFrame:
    """``grid`` (from :func:`language_grid`) with ``penalty`` = 1 - cell / mean of the two monolingual cells of its
    languages (``src -> src`` and ``tgt -> tgt``): 0 for a monolingual cell, 0.4 for a cell that keeps 60% of
    what the two languages reach on their own."""
    mono = grid[grid["src"] == grid["tgt"]].set_index("src")[metric]
    missing = (set(grid["src"]) | set(grid["tgt"])) - set(mono.index)
    if missing:
        raise ValueError(f"crosslingual_penalty: no monolingual cell for {sorted(missing)}")
    base = (grid["src"].map(mono) + grid["tgt"].map(mono)) / 2
    if not (base > 0).all():
        i = int(np.flatnonzero(~(base > 0).to_numpy())[0])
        raise ValueError(f"crosslingual_penalty: the monolingual cells of {grid['src'].iloc[i]} -> "
                         f"{grid['tgt'].iloc[i]} average {base.iloc[i]}: a penalty needs a positive base")
    return grid.assign(penalty=1 - grid[metric] / base)


def plot_language_grids(grids: dict[str, pd.DataFrame], langs, metric: str = "NDCG@10", title: str = ""):
    """One heatmap per grid (``{panel title: language_grid frame}``): query language in rows, catalogue language in
    columns, each cell's ``metric`` written in it; every panel has its own colour scale (compare panels by the
    numbers). Returns the figure."""
    import matplotlib.pyplot as plt

    langs = list(langs)
    fig, axes = plt.subplots(1, len(grids), figsize=(4.2 * len(grids), 3.8), squeeze=False)
    for ax, (name, grid) in zip(axes[0], grids.items(), strict=True):
        square = grid.pivot(index="src", columns="tgt", values=metric).reindex(index=langs, columns=langs).to_numpy()
        top = float(np.nanmax(square))
        ax.imshow(square, vmin=0, vmax=top, cmap="viridis")
        for (i, j), v in np.ndenumerate(square):
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7, color="white" if v < top / 2 else "black")
        ax.set(xticks=range(len(langs)), xticklabels=langs, yticks=range(len(langs)), yticklabels=langs, title=name,
               xlabel="catalogue language", ylabel="query language")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["RelatedVerseTask", "related_verse_task", "cocitation", "graph_via_text", "rank_related",
           "evaluate_related", "queries_per_book", "sample_catalogue", "sample_test_queries", "text_scores",
           "hub_scores", "HUBS_VERSION", "cached_hub_scores", "CSLSText", "graph_scores", "fused_score_fn",
           "alpha_grid", "choose_alpha", "per_query_cell", "mean_by_book", "language_grid", "change_by_kind",
           "crosslingual_penalty", "plot_language_grids", "SPLITS"]
