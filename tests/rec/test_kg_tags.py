"""KG tags: one hop from both ends of the deduplicated facts."""

import pandas as pd
import pytest

from xlrec_lib.data.kg import deduplicate_inverse
from xlrec_lib.rec import kg_tags


def _kg():
    rows = [
        ("f1", "film.genre", "g1"), ("g1", "genre.films", "f1"),
        ("f2", "film.genre", "g1"), ("g1", "genre.films", "f2"),
        ("f2", "film.genre", "g2"), ("g2", "genre.films", "f2"),
        ("f1", "film.actor", "a1"), ("f2", "film.actor", "a1"),  # stored one way only
        ("f1", "film.sequel", "f2"),
    ]
    return pd.DataFrame(rows, columns=["head", "relation", "tail"])


def test_one_hop_sees_both_ends_and_counts_facts_once_after_dedup():
    links = pd.DataFrame({"item_id": [1, 2, 3], "entity_id": ["f1", "f2", "f9"]})
    raw = kg_tags.facts_per_item(kg_tags.one_hop(_kg()), links)
    dedup = kg_tags.facts_per_item(kg_tags.one_hop(deduplicate_inverse(_kg())), links)
    assert dedup.to_dict() == {1: 3, 2: 4, 3: 0}  # f1: g1, a1, sequel f2; f2: g1, g2, a1, ~sequel f1
    assert raw.to_dict() == {1: 4, 2: 6, 3: 0}  # raw: every genre fact twice
    hop = kg_tags.one_hop(deduplicate_inverse(_kg()))
    assert ("f2", "~film.sequel", "f1") in set(map(tuple, hop.to_numpy()))
    with pytest.raises(ValueError, match="lacks column"):
        kg_tags.one_hop(pd.DataFrame({"head": []}))
