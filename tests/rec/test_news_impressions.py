import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from xlrec_lib.data.mind import mind_news
from xlrec_lib.rec.news_impressions import evaluate_impressions, impression_metrics, news_texts

DEMO = Path(__file__).resolve().parents[2] / "data/fixtures"


def test_impression_metrics_by_hand():
    # ranked by score: c (0), a (1), d (0), b (1)
    m = impression_metrics([1, 1, 0, 0], [0.5, 0.1, 0.9, 0.3], ks=(2, 4))
    assert m["AUC"] == pytest.approx(0.25)  # of the 4 (clicked, not clicked) pairs only a > d
    assert m["MRR"] == pytest.approx((1 / 2 + 1 / 4) / 2)
    ideal2, ideal4 = 1 + 1 / math.log2(3), 1 + 1 / math.log2(3)
    assert m["NDCG@2"] == pytest.approx((1 / math.log2(3)) / ideal2)
    assert m["NDCG@4"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal4)


def test_impression_metrics_perfect_and_ties_in_shown_order():
    m = impression_metrics([0, 1, 0], [0.2, 0.9, 0.1])
    assert m == {"AUC": 1.0, "MRR": 1.0, "NDCG@5": 1.0, "NDCG@10": 1.0}
    # a tie never counts for the recommender: the clicked one ranks after the skipped one,
    # whichever was shown first (a constant scorer gets no credit)
    for labels in ([1, 0], [0, 1]):
        tied = impression_metrics(labels, [0.5, 0.5], ks=(1,))
        assert tied["AUC"] == 0.5 and tied["MRR"] == 0.5 and tied["NDCG@1"] == 0.0
    with pytest.raises(ValueError, match="k must be a positive integer"):
        impression_metrics([0, 1], [0.1, 0.2], ks=(0,))


def _news(titles, abstracts=None, lang=None):
    frame = pd.DataFrame({"news_id": [f"N{i}" for i in range(1, len(titles) + 1)]})
    t, a = ("title", "abstract") if lang is None else (f"title_{lang}", f"abstract_{lang}")
    frame[t] = titles
    frame[a] = abstracts or [""] * len(titles)
    return frame


def test_news_texts_joins_title_and_abstract_and_keeps_untranslated_empty():
    news = _news(["Cup final", "Soup", ""], ["A late goal.", "", "orphan abstract"], lang="cmn")
    texts = news_texts(news, "cmn")
    assert texts.to_dict() == {"N1": "Cup final A late goal.", "N2": "Soup", "N3": ""}
    with pytest.raises(ValueError, match="translations=.*'fin'"):
        news_texts(news, "fin")


def _behaviors(rows):
    return pd.DataFrame(rows, columns=["impression_id", "history", "candidates", "labels"])


def test_profile_is_the_mean_of_the_history_and_skips_are_counted():
    texts = pd.Series(["a", "b", "c", "d", ""], index=["N1", "N2", "N3", "N4", "N5"])
    e = torch.eye(4)
    vectors = torch.cat([e, torch.zeros(1, 4)])  # N5 has no text: its row is ignored
    behaviors = _behaviors([
        (1, ["N1", "N2"], ["N3", "N1", "N2"], [0, 1, 0]),  # N1 and N2 tie at 1/sqrt2; N1 shown first
        (2, [], ["N1", "N2"], [1, 0]),
        (3, ["N5"], ["N1", "N2"], [1, 0]),
        (4, ["N1"], ["N5", "N2"], [1, 0]),
        (5, ["N1"], ["N3", "N2"], [1, 1]),
        (6, ["N1"], ["N3", "N2"], [-1, 0]),
    ])
    out = evaluate_impressions(behaviors, texts, vectors, texts, vectors)
    assert out["impression_id"].tolist() == [1]
    # N1 (clicked) ties N2 (skipped) at 1/sqrt2 and ranks after it; both beat N3
    assert out.loc[0, "MRR"] == 0.5 and out.loc[0, "AUC"] == 0.75
    assert out.attrs["skipped"] == {"no history": 1, "history news without text": 1,
                                    "candidate without text": 1, "unlabelled candidate": 1, "one class only": 1}


def test_history_and_candidates_in_different_languages():
    en = pd.Series(["x", "y"], index=["N1", "N2"])
    zh = pd.Series(["x'", "y'"], index=["N1", "N2"])
    e, flipped = torch.eye(2), torch.eye(2).flip(0)  # the "other language" swaps the directions
    behaviors = _behaviors([(1, ["N1"], ["N1", "N2"], [1, 0])])
    same = evaluate_impressions(behaviors, en, e, en, e)
    cross = evaluate_impressions(behaviors, en, e, zh, flipped)
    assert same.loc[0, "AUC"] == 1.0 and cross.loc[0, "AUC"] == 0.0


def test_bad_vectors_are_named_and_unknown_news_counted():
    texts = pd.Series(["a", "b"], index=["N1", "N2"])
    behaviors = _behaviors([(7, ["N1"], ["N9", "N2"], [1, 0])])
    out = evaluate_impressions(behaviors, texts, torch.eye(2), texts, torch.eye(2))
    assert out.empty and out.attrs["skipped"] == {"news not in the news file": 1}
    with pytest.raises(ValueError, match=r"must be \(n_news, dim\)"):
        evaluate_impressions(behaviors, texts, torch.eye(3), texts, torch.eye(2))
    with pytest.raises(ValueError, match="NaN or inf"):
        evaluate_impressions(behaviors, texts, torch.full((2, 2), float("nan")), texts, torch.eye(2))
    # a history news known only as a page text is unknown to the history side
    page = pd.Series(["a", "b", "c"], index=["N1", "N2", "N3"])
    odd = _behaviors([(8, ["N3"], ["N1", "N2"], [1, 0])])
    skipped = evaluate_impressions(odd, texts, torch.eye(2), page, torch.eye(3)).attrs["skipped"]
    assert skipped == {"news not in the news file": 1}


@pytest.mark.parametrize("candidates, labels, message", [
    ([], [], "shows no candidates"),
    (["N1", "N2"], [1], "2 candidates but 1 labels"),
    (["N1", "N2"], [1, 2], "labels must be|they must be 1"),
])
def test_malformed_impressions_are_named(candidates, labels, message):
    texts = pd.Series(["a", "b"], index=["N1", "N2"])
    behaviors = _behaviors([(5, ["N1"], candidates, labels)])
    with pytest.raises(ValueError, match=f"impression 5 .*({message})"):
        evaluate_impressions(behaviors, texts, torch.eye(2), texts, torch.eye(2))


def test_paired_by_user_pairs_page_views_and_resamples_users():
    from xlrec_lib.rec.news_impressions import paired_by_user

    a = pd.DataFrame({"impression_id": [1, 2, 3, 4], "user_id": ["u", "u", "v", "w"],
                      "AUC": [0.9, 0.8, 0.7, 0.6]})
    b = pd.DataFrame({"impression_id": [1, 2, 3], "user_id": ["u", "u", "v"], "AUC": [0.5, 0.6, 0.7]})
    diff, low, high, n = paired_by_user(a, b)
    assert n == 3 and diff == pytest.approx((0.4 + 0.2 + 0.0) / 3)
    # resampling users: the extremes are u alone (+0.3 per view) and v alone (0.0)
    assert 0.0 <= low <= diff <= high <= 0.3 + 1e-12
    with pytest.raises(ValueError, match="share no scored page view"):
        paired_by_user(a.iloc[3:], b)
    with pytest.raises(ValueError, match="needs user_id"):
        paired_by_user(a.drop(columns="user_id"), b)


def test_demo_fixture_runs_in_both_languages():
    mind = mind_news(DEMO / "news-demo", translations={"cmn": DEMO / "news-demo-cmn"})
    en, zh = news_texts(mind.news), news_texts(mind.news, "cmn")
    assert (en != "").all() and (zh != "").all() and len(en) == 16
    # one-hot vectors of each news's category: a profile of the user's categories
    cats = pd.Categorical(mind.news["category"]).codes
    onehot = torch.nn.functional.one_hot(torch.tensor(cats).long()).float()
    out = evaluate_impressions(mind.behaviors, en, onehot, zh, onehot)
    assert len(out) == 7 and out.attrs["skipped"] == {"no history": 1}
    assert out["AUC"].between(0, 1).all() and out["MRR"].mean() > 0.5


def test_encode_news_skips_untranslated_rows(tmp_path, monkeypatch, length_encoder):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    from xlrec_lib.rec.news_impressions import encode_news

    enc = length_encoder
    out = encode_news(enc, pd.Series(["ab", "", "abcd"], index=["N1", "N2", "N3"]))
    assert enc.calls == [["ab", "abcd"]] and out.shape == (3, 2)
    assert torch.equal(out[1], torch.zeros(2)) and torch.allclose(out[[0, 2]].norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="all 1 texts are empty"):
        encode_news(enc, pd.Series([""], index=["N1"]))
