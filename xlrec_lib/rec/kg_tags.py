"""Knowledge-graph tags for items (seed 000's "tag expansion"): deduplicated facts, one hop from each item.

MovieLens-100k's Freebase triples (RecBole's copy) store many facts twice, once per direction: ``(film,
film.film.genre, g)`` and ``(g, film.film_genre.films_in_this_genre, film)``. Counted raw, such a fact weighs double
against one stored once (``film.film.actor`` has almost no inverse). We

1. find the inverse relation pairs from the data: ``r2`` is the inverse of ``r1`` when at least ``min_share`` of
   the reversed pairs ``(t, h)`` of ``r2`` are pairs ``(h, t)`` of ``r1`` (and vice versa);
2. rewrite each inverse triple in the direction of its partner (the relation whose heads are the items, e.g.
   film -> its genres rather than genre -> its films) and drop the duplicates;
3. expand an item one hop: its tags are the entities next to it, either way round, as ``relation=entity``
   (``~relation=entity`` when the item is the tail, e.g. the film a sequel follows).

``one_hop`` returns head-centred triples, so ``rec.content.kg_tag_matrix`` turns them into IDF-weighted tags.
pandas only.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["head", "relation", "tail"]


def _check(kg: pd.DataFrame) -> None:
    missing = [c for c in COLUMNS if c not in kg.columns]
    if missing:
        raise ValueError(f"kg: missing column(s) {missing}; has {list(kg.columns)}")


def inverse_pairs(kg: pd.DataFrame, min_share: float = 0.9, items=None) -> dict[str, str]:
    """``{inverse relation: forward relation}`` for every relation pair that mirrors each other (module docstring).
    The forward one has more heads among ``items`` (the items' entities, if given), else more distinct heads;
    ties go to the name that sorts first."""
    _check(kg)
    if not 0 < min_share <= 1:
        raise ValueError(f"inverse_pairs: min_share must lie in (0, 1], got {min_share}")
    pairs = {r: set(zip(g["head"], g["tail"], strict=True)) for r, g in kg.groupby("relation")}
    if items is not None:
        item_set = set(items)
        heads = kg.groupby("relation")["head"].agg(lambda h: len(set(h) & item_set))
    else:
        heads = kg.groupby("relation")["head"].nunique()
    out: dict[str, str] = {}
    names = sorted(pairs)
    for a_pos, a in enumerate(names):
        for b in names[a_pos + 1:]:
            reversed_b = {(t, h) for h, t in pairs[b]}
            common = len(pairs[a] & reversed_b)
            if common >= min_share * len(pairs[a]) and common >= min_share * len(pairs[b]):
                forward, inverse = (a, b) if heads[a] >= heads[b] else (b, a)
                out[inverse] = forward
    return out


def deduplicate(kg: pd.DataFrame, inverses: dict[str, str] | None = None) -> pd.DataFrame:
    """Each fact once: inverse triples turned into their forward relation (``inverses`` from :func:`inverse_pairs`
    by default), then exact duplicates dropped. Columns ``head, relation, tail``."""
    _check(kg)
    inverses = inverse_pairs(kg) if inverses is None else inverses
    flip = kg["relation"].isin(list(inverses))
    out = pd.DataFrame({
        "head": kg["tail"].where(flip, kg["head"]),
        "relation": kg["relation"].map(inverses).where(flip, kg["relation"]),
        "tail": kg["head"].where(flip, kg["tail"]),
    })
    return out.drop_duplicates(ignore_index=True)


def one_hop(kg: pd.DataFrame) -> pd.DataFrame:
    """Every triple seen from both ends: ``(h, r, t)`` and ``(t, ~r, h)``, so that the triples whose head is an item
    list all of its one-hop neighbours. Columns ``head, relation, tail``."""
    _check(kg)
    back = pd.DataFrame({"head": kg["tail"], "relation": "~" + kg["relation"], "tail": kg["head"]})
    return pd.concat([kg[COLUMNS], back], ignore_index=True).drop_duplicates(ignore_index=True)


def facts_per_item(kg: pd.DataFrame, links: pd.DataFrame) -> pd.Series:
    """Number of triples of ``kg`` whose head is each linked item's entity (``item_id`` index; 0 for none)."""
    _check(kg)
    counts = kg.groupby("head").size()
    return pd.Series(counts.reindex(links["entity_id"]).fillna(0).astype(int).to_numpy(), index=links["item_id"])
