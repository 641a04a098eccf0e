"""Content vectors: items as genre + knowledge-graph tag vectors, users as the mean of the items they rated.

An honest, simple source of user and item vectors for the scoring chapter (no training, no leakage: user
profiles read the training interactions only). numpy and pandas only.

Item ``i`` gets two blocks, each scaled to unit L2 norm (a row with no feature in a block stays zero there):

- genres: multi-hot over the genre names, e.g. ``genre=Comedy``;
- KG tags: one feature per ``relation=tail`` of the triples whose head is the item's entity (``film.film.actor=m.0x``,
  ``film.film.directed_by=m.0y``, ...), kept when at least ``min_count`` items share it (a tag on one item cannot
  relate two items), weighted by ``idf = log(n_items / df)`` so that rare shared tags count more than common ones;

and ``x_i = [genres_i, kg_weight * tags_i]``. A user's profile is ``h_u = mean_{i in train(u)} x_i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xlrec_lib.vectors import normalize_rows


@dataclass(frozen=True)
class ItemFeatures:
    """``matrix`` (n_items, n_features) float32, row ``j`` for ``item_ids[j]``; ``features`` names the columns."""

    matrix: np.ndarray
    item_ids: np.ndarray
    features: list[str]

    @property
    def genre_columns(self) -> np.ndarray:
        """``(n_features,)`` bool: the genre block's columns (named ``genre=...`` by :func:`genre_matrix`); the
        others are knowledge-graph tags."""
        return np.array([f.startswith("genre=") for f in self.features], dtype=bool)

    def rows(self, ids) -> np.ndarray:
        """Row indices of the given item ids (an unknown id raises ValueError)."""
        index = pd.Index(self.item_ids)
        rows = index.get_indexer(np.asarray(ids))
        if (rows < 0).any():
            raise ValueError(f"item id {np.asarray(ids)[rows < 0].tolist()[0]!r} has no feature row")
        return rows


def _require(frame: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; has {list(frame.columns)}")
    if len(set(cols)) != len(cols):
        raise ValueError(f"{what}: the column arguments must name different columns, got {cols}")


def genre_matrix(items: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Multi-hot ``(n_items, n_genres)`` from the ``genres`` list column, genres sorted by name."""
    _require(items, ["item_id", "genres"], "items")
    bad = items.index[~items["genres"].map(lambda g: isinstance(g, (list, tuple)))]
    if len(bad):
        raise ValueError(f"items: 'genres' must be a list per row, got {items.at[bad[0], 'genres']!r} at row {bad[0]}")
    names = sorted({g for genres in items["genres"] for g in genres})
    col = {g: j for j, g in enumerate(names)}
    x = np.zeros((len(items), len(names)), dtype=np.float32)
    for row, genres in enumerate(items["genres"]):
        x[row, [col[g] for g in genres]] = 1.0
    return x, [f"genre={g}" for g in names]


def kg_tag_matrix(
    items: pd.DataFrame, kg: pd.DataFrame, links: pd.DataFrame, min_count: int = 5
) -> tuple[np.ndarray, list[str]]:
    """IDF-weighted ``(n_items, n_tags)`` from the triples ``(head=item entity, relation, tail)``.

    A tag ``relation=tail`` is kept when at least ``min_count`` items carry it; weight ``log(n_items / df)``.
    Items without a link (or without kept tags) get a zero row.
    """
    _require(kg, ["head", "relation", "tail"], "kg")
    _require(links, ["item_id", "entity_id"], "links")
    dup = links["item_id"].duplicated()
    if dup.any():
        raise ValueError(f"links: item {links.loc[dup, 'item_id'].iloc[0]!r} is linked to two entities")
    row_of_item = pd.Series(np.arange(len(items)), index=items["item_id"].to_numpy())
    linked = links[links["item_id"].isin(row_of_item.index)]
    pairs = kg.merge(linked, left_on="head", right_on="entity_id")  # one row per (item, triple about it)
    pairs = pd.DataFrame(
        {
            "row": row_of_item[pairs["item_id"]].to_numpy(),
            "tag": (pairs["relation"] + "=" + pairs["tail"]).to_numpy(),
        }
    ).drop_duplicates()
    df = pairs.groupby("tag").size()
    kept = df[df >= min_count].sort_index()
    col = pd.Series(np.arange(len(kept)), index=kept.index)
    pairs = pairs[pairs["tag"].isin(kept.index)]
    x = np.zeros((len(items), len(kept)), dtype=np.float32)
    idf = np.log(len(items) / kept.to_numpy()).astype(np.float32)
    cols = col[pairs["tag"]].to_numpy()
    x[pairs["row"].to_numpy(dtype=np.int64), cols] = idf[cols]
    return x, list(kept.index)


def item_features(
    items: pd.DataFrame,
    kg: pd.DataFrame | None = None,
    links: pd.DataFrame | None = None,
    min_count: int = 5,
    kg_weight: float = 1.0,
) -> ItemFeatures:
    """Item vectors ``[unit(genres), kg_weight * unit(idf tags)]`` (see the module docstring); KG optional."""
    if items["item_id"].duplicated().any():
        raise ValueError(f"items: item_id {items.loc[items['item_id'].duplicated(), 'item_id'].iloc[0]!r} repeats")
    genres, names = genre_matrix(items)
    blocks = [normalize_rows(genres)]
    if kg is not None or links is not None:
        if kg is None or links is None:
            raise ValueError("item_features: give both kg and links, or neither")
        tags, tag_names = kg_tag_matrix(items, kg, links, min_count)
        blocks.append(kg_weight * normalize_rows(tags))
        names = names + tag_names
    matrix = np.concatenate(blocks, axis=1).astype(np.float32)
    return ItemFeatures(matrix, items["item_id"].to_numpy(), names)


def user_profiles(
    interactions: pd.DataFrame,
    features: ItemFeatures,
    user_ids=None,
    col_user: str = "user_id",
    col_item: str = "item_id",
) -> tuple[np.ndarray, np.ndarray]:
    """``h_u = mean of x_i`` over the user's rows of ``interactions`` -> ``(profiles (n_users, n_features), user_ids)``.

    ``user_ids`` fixes the row order (default: sorted users of ``interactions``); a listed user with no
    interaction gets a zero profile (cosine 0 with every item). Builds a dense (n_users, n_items) weight matrix:
    meant for MovieLens-sized data.
    """
    _require(interactions, [col_user, col_item], "interactions")
    if isinstance(user_ids, (str, bytes)):
        raise ValueError(f"user_profiles: user_ids must be a list of ids, got the string {user_ids!r:.40}")
    users = np.sort(interactions[col_user].unique()) if user_ids is None else np.asarray(user_ids)
    user_row = pd.Index(users).get_indexer(interactions[col_user].to_numpy())
    if (user_row < 0).any():
        missing = interactions[col_user].to_numpy()[user_row < 0].tolist()[0]
        raise ValueError(f"interactions: user {missing!r} is not in user_ids")
    item_row = features.rows(interactions[col_item].to_numpy())
    weights = np.zeros((len(users), len(features.item_ids)), dtype=np.float32)
    np.add.at(weights, (user_row, item_row), 1.0)
    counts = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, counts, out=np.zeros_like(weights), where=counts > 0)
    return weights @ features.matrix, users


def index_pairs(interactions: pd.DataFrame, user_ids, item_ids, col_user: str = "user_id",
                col_item: str = "item_id") -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``interactions`` as ``(user row, item row)`` index arrays into ``user_ids`` and ``item_ids``
    (e.g. the seen pairs to exclude from top-k). An id missing from either list raises."""
    _require(interactions, [col_user, col_item], "interactions")
    for name, ids in (("user_ids", user_ids), ("item_ids", item_ids)):
        if isinstance(ids, (str, bytes)):
            raise ValueError(f"index_pairs: {name} must be a list of ids, got the string {ids!r:.40}")
    out = []
    for col, ids in ((col_user, user_ids), (col_item, item_ids)):
        values = interactions[col].to_numpy()
        rows = pd.Index(np.asarray(ids)).get_indexer(values)
        if (rows < 0).any():
            raise ValueError(f"interactions: {col} {values[rows < 0].tolist()[0]!r} is not among the given ids "
                             "(ids are compared as they are: 1 != '1')")
        out.append(rows.astype(np.int64))
    return out[0], out[1]
