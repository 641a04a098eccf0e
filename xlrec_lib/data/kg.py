"""Knowledge-graph triples stored twice: inverse relation pairs, found and removed.

Freebase states many facts in both directions: ``(film, film.film.genre, genre)`` and
``(genre, film.film_genre.films_in_this_genre, film)`` are one fact. KB4Rec's MovieLens triples keep both, so a
raw triple count counts those facts twice. Two relations ``r`` and ``s`` are **inverse** when, for (nearly) every
triple ``(h, r, t)``, ``(t, s, h)`` is present too, and the other way round; a relation that is its own inverse is
**symmetric** (``(h, r, t)`` and ``(t, r, h)``).

``inverse_relation_pairs(kg)`` measures this on the data (no relation names are trusted); ``deduplicate_inverse(kg)``
keeps one direction of each pair and one copy of each symmetric fact (``head <= tail``). Which direction: the one
whose heads are the entities you name (``prefer_heads``, e.g. the films linked to items, so that ``film.film.genre``
is kept and ``films_in_this_genre`` goes), else the one whose head side has more distinct entities.
pandas only.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["head", "relation", "tail"]


def check_columns(kg: pd.DataFrame) -> None:
    """ValueError unless ``kg`` has the columns ``head, relation, tail``."""
    missing = [c for c in COLUMNS if c not in kg.columns]
    if missing:
        raise ValueError(f"knowledge graph frame lacks column(s) {missing}; expected {COLUMNS}")


def inverse_relation_pairs(kg: pd.DataFrame, min_share: float = 0.95, prefer_heads=None) -> pd.DataFrame:
    """One row per pair of relations that mirror each other: ``keep``, ``drop`` (``drop == keep`` for a symmetric
    relation), ``mirrored`` (triples of ``keep`` whose reverse is a ``drop`` triple) and ``share`` (``mirrored``
    over the larger of the two relations' sizes). A pair is reported when ``share >= min_share``: most of *both*
    relations mirror each other, not just a few triples (directors who act overlap ``film.film.actor`` a little).
    ``keep`` is the relation with the larger share of heads in ``prefer_heads`` (a set of entities), then the one
    with more distinct heads, then the first name. ``min_share=0`` lists every pair with a mirrored triple (filter
    its ``share`` column to split strong pairs from accidental ones without a second merge)."""
    check_columns(kg)
    if not 0 <= min_share <= 1:
        raise ValueError(f"min_share must lie in [0, 1], got {min_share}")
    triples = kg[COLUMNS].drop_duplicates()
    size = triples.groupby("relation").size()
    preferred = set(prefer_heads or ())
    rank = triples.groupby("relation")["head"].agg(
        lambda h: (h.isin(preferred).mean(), h.nunique()))  # compared as tuples: preferred share, distinct heads
    reverse = triples.rename(columns={"head": "tail", "tail": "head", "relation": "inverse"})
    counts = triples.merge(reverse, on=["head", "tail"]).groupby(["relation", "inverse"]).size()
    rows = []
    for (r, s), mirrored in counts.items():
        share = mirrored / max(size[r], size[s])
        if share < min_share or r > s:
            continue  # each unordered pair once
        keep, drop = (s, r) if rank[s] > rank[r] else (r, s)
        rows.append({"keep": keep, "drop": drop, "mirrored": int(mirrored), "share": float(share)})
    return pd.DataFrame(rows, columns=["keep", "drop", "mirrored", "share"]).sort_values(
        "mirrored", ascending=False, ignore_index=True)


def deduplicate_inverse(kg: pd.DataFrame, pairs: pd.DataFrame | None = None, min_share: float = 0.95,
                        prefer_heads=None) -> pd.DataFrame:
    """``kg`` with each fact of a mirrored pair once: every triple of a pair's ``drop`` relation whose mirror exists
    in ``keep`` is removed; one stated in that direction only is turned around into ``keep``, so no fact is lost.
    Of a symmetric relation, the copy with ``head > tail`` goes. ``pairs`` defaults to
    ``inverse_relation_pairs(kg, min_share, prefer_heads)``;
    ``.attrs["dropped"]`` counts the removed triples per relation (exact duplicate rows under "exact duplicates")."""
    check_columns(kg)
    pairs = inverse_relation_pairs(kg, min_share, prefer_heads) if pairs is None else pairs
    out = kg[COLUMNS].drop_duplicates().reset_index(drop=True)
    dropped: dict[str, int] = {}
    if len(out) < len(kg):
        dropped["exact duplicates"] = len(kg) - len(out)
    for keep, drop in zip(pairs["keep"], pairs["drop"], strict=True):
        kept = out[out["relation"] == keep]
        known = set(zip(kept["head"], kept["tail"], strict=True))
        if keep == drop:
            mirror = pd.Series([(t, h) in known for h, t in zip(out["head"], out["tail"], strict=True)],
                               index=out.index)
            redundant = (out["relation"] == keep) & (out["head"] > out["tail"]) & mirror
            dropped[drop] = int(redundant.sum())
            out = out[~redundant]
        else:
            is_drop = out["relation"] == drop
            turned = out[is_drop].rename(columns={"head": "tail", "tail": "head"}).assign(relation=keep)[COLUMNS]
            lonely = turned[[(h, t) not in known for h, t in zip(turned["head"], turned["tail"], strict=True)]]
            dropped[drop] = int(is_drop.sum()) - len(lonely)
            out = pd.concat([out[~is_drop], lonely], ignore_index=True)
    out = out.reset_index(drop=True)
    out.attrs["dropped"] = dropped
    return out


__all__ = ["COLUMNS", "check_columns", "inverse_relation_pairs", "deduplicate_inverse"]
