"""Knowledge-graph tags for items (seed 000's "tag expansion"): one hop from each item.

MovieLens-100k's Freebase triples (RecBole's copy) store many facts twice, once per direction: ``(film,
film.film.genre, g)`` and ``(g, film.film_genre.films_in_this_genre, film)``. Counted raw, such a fact weighs double
against one stored once (``film.film.actor`` has almost no inverse), so the triples are first deduplicated by
``xlrec_lib.data.kg.deduplicate_inverse`` (inverse relation pairs found from the data, each fact kept once, in the
direction whose heads are the items). Then an item is expanded one hop: its tags are the entities next to it,
either way round, as ``relation=entity`` (``~relation=entity`` when the item is the tail, e.g. the film a sequel
follows).

``one_hop`` returns head-centred triples, so ``rec.content.kg_tag_matrix`` turns them into IDF-weighted tags.
pandas only.
"""

from __future__ import annotations

import pandas as pd

from xlrec_lib.data.kg import COLUMNS, check_columns


def one_hop(kg: pd.DataFrame) -> pd.DataFrame:
    """Every triple seen from both ends: ``(h, r, t)`` and ``(t, ~r, h)``, so that the triples whose head is an item
    list all of its one-hop neighbours. Columns ``head, relation, tail``."""
    check_columns(kg)
    back = pd.DataFrame({"head": kg["tail"], "relation": "~" + kg["relation"], "tail": kg["head"]})
    return pd.concat([kg[COLUMNS], back], ignore_index=True).drop_duplicates(ignore_index=True)


def facts_per_item(kg: pd.DataFrame, links: pd.DataFrame) -> pd.Series:
    """Number of triples of ``kg`` whose head is each linked item's entity (``item_id`` index; 0 for none)."""
    check_columns(kg)
    counts = kg.groupby("head").size()
    return pd.Series(counts.reindex(links["entity_id"]).fillna(0).astype(int).to_numpy(), index=links["item_id"])
