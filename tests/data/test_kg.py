import pandas as pd
import pytest

from xlrec_lib.data.kg import deduplicate_inverse, inverse_relation_pairs


def _kg(rows):
    return pd.DataFrame(rows, columns=["head", "relation", "tail"])


# three films, two genres: genre stated both ways; one film has a sequel (also both ways); "friend" is symmetric;
# one actor triple mirrors a "director" triple by accident (a director who acts), which is not an inverse relation.
KG = _kg([
    ("f1", "film.genre", "g1"), ("f2", "film.genre", "g1"), ("f3", "film.genre", "g2"),
    ("g1", "genre.films", "f1"), ("g1", "genre.films", "f2"), ("g2", "genre.films", "f3"),
    ("f1", "film.sequel", "f2"), ("f2", "film.prequel", "f1"),
    ("a", "friend", "b"), ("b", "friend", "a"), ("a", "friend", "c"),
    ("f1", "film.actor", "p1"), ("f2", "film.actor", "p2"), ("f3", "film.actor", "p3"),
    ("p1", "director.film", "f1"), ("p4", "director.film", "f2"),
])


def test_finds_inverse_and_symmetric_relations_only():
    pairs = inverse_relation_pairs(KG)
    found = {(k, d) for k, d in zip(pairs["keep"], pairs["drop"], strict=True)}
    # the film side (3 distinct heads) is kept over the genre side (2); sequel/prequel tie -> first name
    assert found == {("film.genre", "genre.films"), ("film.prequel", "film.sequel")}
    assert pairs.set_index("keep").loc["film.genre", "mirrored"] == 3


def test_min_share_filters_partial_mirrors():
    strict = inverse_relation_pairs(KG, min_share=0.95)
    assert "friend" not in set(strict["keep"]) and "film.actor" not in set(strict["keep"])
    # 2 of the 3 friend triples mirror each other (share 2/3); 1 actor triple of 3 mirrors a director one (1/3)
    loose = inverse_relation_pairs(KG, min_share=0.5).set_index("keep")
    assert loose.loc["friend", "share"] == pytest.approx(2 / 3) and "film.actor" not in loose.index
    looser = inverse_relation_pairs(KG, min_share=0.3)
    assert ("film.actor", "director.film") in set(zip(looser["keep"], looser["drop"], strict=True))
    every = inverse_relation_pairs(KG, min_share=0)  # every pair with a mirrored triple, filterable by share
    strong = every[every["share"] >= 0.5].reset_index(drop=True)
    assert strong.equals(inverse_relation_pairs(KG, min_share=0.5)) and len(every) == len(strong) + 1  # + actor
    with pytest.raises(ValueError, match=r"min_share must lie in \[0, 1\], got -0.1"):
        inverse_relation_pairs(KG, min_share=-0.1)


def test_deduplicate_keeps_every_fact_once():
    out = deduplicate_inverse(KG)
    assert out.attrs["dropped"] == {"genre.films": 3, "film.sequel": 1}
    assert len(out) == len(KG) - 4
    assert "genre.films" not in set(out["relation"])
    # a fact stated only in the dropped direction is turned around, not lost
    extra = pd.concat([KG, _kg([("g2", "genre.films", "f9")])], ignore_index=True)
    pairs = inverse_relation_pairs(KG)
    out2 = deduplicate_inverse(extra, pairs)
    assert ("f9", "film.genre", "g2") in set(map(tuple, out2.to_numpy()))
    assert out2.attrs["dropped"]["genre.films"] == 3


def test_symmetric_relation_keeps_one_copy():
    pairs = inverse_relation_pairs(KG, min_share=0.5)
    out = deduplicate_inverse(KG, pairs)
    friends = set(map(tuple, out.loc[out["relation"] == "friend", ["head", "tail"]].to_numpy()))
    assert friends == {("a", "b"), ("a", "c")}


def test_prefer_heads_chooses_the_kept_direction():
    # without a preference the side with more distinct heads (3 films vs 2 genres) is kept; naming the genres flips it
    pairs = inverse_relation_pairs(KG, prefer_heads={"g1", "g2"})
    assert ("genre.films", "film.genre") in set(zip(pairs["keep"], pairs["drop"], strict=True))


def test_rejects_frames_without_triple_columns():
    with pytest.raises(ValueError, match="relation"):
        inverse_relation_pairs(pd.DataFrame({"head": ["a"], "tail": ["b"]}))


def test_exact_duplicate_rows_are_counted():
    kg = pd.DataFrame({"head": ["m1", "m1", "g"], "relation": ["film.genre", "film.genre", "genre.films"],
                       "tail": ["g", "g", "m1"]})
    out = deduplicate_inverse(kg, pairs=pd.DataFrame({"keep": ["film.genre"], "drop": ["genre.films"]}))
    assert len(out) == 1 and out.attrs["dropped"] == {"exact duplicates": 1, "genre.films": 1}
