"""Two towers on the related-verse task: training pairs come from training edges only, in the languages asked for;
the fine-tuned towers are cached, leave the base encoder unchanged and encode unit rows."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from xlrec_lib.data.bible import verse_id
from xlrec_lib.encoders.pooling import HFEncoder
from xlrec_lib.rec import related_verses as rv
from xlrec_lib.rec import two_tower

GEN, MARK, JOHN = 1, 41, 43
G = [verse_id(GEN, 1, v) for v in range(1, 9)]
M1, J1, J2 = verse_id(MARK, 1, 1), verse_id(JOHN, 1, 1), verse_id(JOHN, 1, 2)
CATALOGUE = sorted([*G, M1, J1, J2])
PAIRS = [(G[0], G[1]), (G[1], G[2]), (G[2], G[3]), (G[4], G[5]), (G[6], G[7]), (J1, G[0]), (M1, G[3]), (J1, J2)]
WORDS = ["a", "b", "c", "d", "e", "f", "g", "h", "x", "y", "z"]


def toy_task():
    return rv.related_verse_task(CATALOGUE, pd.DataFrame(PAIRS, columns=["verse_id", "related_id"]))


def toy_texts(task):
    """Verse i: an English text of two letters and a 'Chinese' one of one character, distinct per verse."""
    en = [f"{WORDS[i % 11]} {WORDS[(i * 3 + 1) % 11]}" for i in range(len(task.catalogue))]
    zh = ["甲 乙 丙 丁".split()[i % 4] + " " + WORDS[i % 11] for i in range(len(task.catalogue))]
    return {"en": en, "zh": zh}


def test_edge_text_pairs_are_the_training_edges_in_the_asked_languages():
    task = toy_task()
    texts = toy_texts(task)
    src, tgt = two_tower.edge_text_pairs(task, texts, ["en"])
    pos = {int(v): i for i, v in enumerate(task.catalogue)}
    expected = [(texts["en"][pos[a]], texts["en"][pos[b]]) for a, b in task.train_edges.tolist() if a < b]
    assert list(zip(src, tgt, strict=True)) == expected and len(expected) == task.summary()["train_edges"] == 5
    held = {texts[lang][pos[v]] for lang in texts for v in (M1, J1, J2)}
    assert not held & (set(src) | set(tgt))  # no held-out verse is ever trained on
    src2, tgt2 = two_tower.edge_text_pairs(task, texts, ["en", "zh"], seed=3)
    assert (src2, tgt2) == two_tower.edge_text_pairs(task, texts, ["en", "zh"], seed=3)  # seeded
    for (a, b), s, t in zip(((a, b) for a, b in task.train_edges.tolist() if a < b), src2, tgt2, strict=True):
        assert s in (texts["en"][pos[a]], texts["zh"][pos[a]]) and t in (texts["en"][pos[b]], texts["zh"][pos[b]])
    drawn = [s in texts["zh"] for s in src2 + tgt2]
    assert any(drawn) and not all(drawn)  # both languages drawn (10 ends, seed 3)


def test_edge_text_pairs_refuses_bad_texts():
    task = toy_task()
    texts = toy_texts(task)
    with pytest.raises(ValueError, match=r"no texts for languages \['fr'\]"):
        two_tower.edge_text_pairs(task, texts, ["en", "fr"])
    with pytest.raises(ValueError, match="one text per catalogue verse"):
        two_tower.edge_text_pairs(task, {"en": texts["en"][:-1]}, ["en"])
    with pytest.raises(ValueError, match="steps >= 1"):
        two_tower.TwoTowerConfig(steps=0)


def test_load_or_train_fine_tunes_a_copy_once_then_loads(tiny_bert, tiny_tokenizer, tmp_path, monkeypatch):
    from xlrec_lib.crosslingual import contrastive

    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    task = toy_task()
    texts = toy_texts(task)
    base = HFEncoder(tiny_bert, tiny_tokenizer, "tiny", max_length=16)
    before = {k: v.clone() for k, v in tiny_bert.state_dict().items()}
    cfg = two_tower.TwoTowerConfig(langs=("en", "zh"), steps=4, batch_size=2, lr=1e-2, max_length=16)
    towers, info = two_tower.load_or_train(base, task, texts, cfg, progress=False)
    assert all(torch.equal(v, before[k]) for k, v in tiny_bert.state_dict().items())  # the base is not changed
    moved = [k for k, v in towers.model.state_dict().items() if not torch.equal(v.cpu(), before[k])]
    assert moved and info["pairs"] == 5 and len(info["losses"]) == 4 and np.isfinite(info["losses"]).all()
    vectors = towers.encode(texts["en"])
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(len(texts["en"])))
    assert towers.key != base.key
    monkeypatch.setattr(contrastive, "train_contrastive", lambda *a, **k: pytest.fail("should load, not train"))
    again, info2 = two_tower.load_or_train(base, task, texts, cfg, progress=False)
    torch.testing.assert_close(again.encode(texts["en"]), vectors)
    assert info2 == info and again.key == towers.key
    with pytest.raises(pytest.fail.Exception):  # another config is another model: it would train
        two_tower.load_or_train(base, task, texts, replace(cfg, langs=("en",)), progress=False)


def test_texts_are_read_by_position_and_trained_with_the_encoder_prefix(tiny_bert, tiny_tokenizer, tmp_path,
                                                                         monkeypatch):
    from xlrec_lib.crosslingual import contrastive

    task = toy_task()
    texts = toy_texts(task)
    shuffled_index = pd.Series(texts["en"], index=np.arange(len(texts["en"]))[::-1])  # labels reversed
    assert two_tower.edge_text_pairs(task, {"en": shuffled_index}, ["en"]) == two_tower.edge_text_pairs(
        task, texts, ["en"])
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    seen = {}
    real = contrastive.train_contrastive

    def spy(model, tokenizer, src, tgt, **kwargs):
        seen["src"], seen["tgt"] = src, tgt
        return real(model, tokenizer, src, tgt, **kwargs)

    monkeypatch.setattr(contrastive, "train_contrastive", spy)
    cfg = two_tower.TwoTowerConfig(steps=2, batch_size=2, max_length=16)
    prefixed = HFEncoder(tiny_bert, tiny_tokenizer, "tiny", prefix="x ", max_length=16)
    towers, _ = two_tower.load_or_train(prefixed, task, texts, cfg, progress=False)
    src, tgt = two_tower.edge_text_pairs(task, texts, ["en"])
    assert seen["src"] == ["x " + t for t in src] and seen["tgt"] == ["x " + t for t in tgt]
    assert towers.prefix == "x "  # trained as it encodes
    short = two_tower.TwoTowerConfig(steps=1, batch_size=2, max_length=8)
    assert two_tower.load_or_train(prefixed, task, texts, short, progress=False)[0].max_length == 8


def test_in_batch_false_negatives_by_hand_on_the_toy_task():
    # training edges (each a < b): G0-G1, G1-G2, G2-G3, G4-G5, G6-G7; 5 pairs fill one batch of 5, every step.
    # a -> b: query G1 (pair G1-G2) meets G1 itself (from G0-G1); query G2 (pair G2-G3) meets G1, linked, and G2
    # itself (from G1-G2). b -> a: query G1 (pair G0-G1) meets G1 itself and G2, linked; query G2 (pair G1-G2)
    # meets G2 itself (from G2-G3). Per step 6 false of 2 x (25 - 5) = 40, 4 of them the query itself; 4 of 10 rows.
    task = toy_task()
    cfg = two_tower.TwoTowerConfig(langs=("en", "zh"), steps=3, batch_size=5)
    out = two_tower.in_batch_false_negatives(task, toy_texts(task), cfg)
    assert out == {"negatives": 3 * 40, "false": 3 * 6, "share": 0.15, "itself": 3 * 4, "rows_with_one": 0.4}


class TriangleTask:
    """Verses 1-5, edges 1-2, 1-3, 2-3 (a triangle) and 4-5: the duck type in_batch_false_negatives reads."""

    catalogue = np.arange(1, 6, dtype=np.int64)
    train_edges = np.array([(1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2), (4, 5), (5, 4)], dtype=np.int64)

    def index(self, ids):
        return np.searchsorted(self.catalogue, ids)

    def adjacency(self):
        import scipy.sparse as sp

        rows, cols = self.index(self.train_edges[:, 0]), self.index(self.train_edges[:, 1])
        return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(5, 5))


def test_in_batch_false_negatives_in_a_triangle():
    # one batch: (1,2), (1,3), (2,3), (4,5). a -> b: query 1 (pos 2) meets 3 and 3, linked; query 1 (pos 3) meets
    # 2 (linked) and 3 (its positive again: linked too); query 2 (pos 3) meets 2 (itself) and 3 (linked); query 4:
    # none. b -> a: query 2 (pos 1) meets 1 (linked) and 2 (itself); query 3 (pos 1) meets 1 and 2, linked; query 3
    # (pos 2) meets 1 and 1, linked. 12 false of 2 x 12 candidates, 2 of them the query itself; 6 of 8 rows.
    texts = {"en": ["a", "b", "c", "d", "e"]}
    cfg = two_tower.TwoTowerConfig(langs=("en",), steps=1, batch_size=4)
    out = two_tower.in_batch_false_negatives(TriangleTask(), texts, cfg)
    assert out == {"negatives": 24, "false": 12, "share": 0.5, "itself": 2, "rows_with_one": 0.75}


def test_load_or_train_checks_the_texts_before_it_looks_anything_up(tiny_bert, tiny_tokenizer, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    task = toy_task()
    base = HFEncoder(tiny_bert, tiny_tokenizer, "tiny", max_length=16)
    cfg = two_tower.TwoTowerConfig(langs=("en", "fr"), steps=1, batch_size=2, max_length=16)
    with pytest.raises(ValueError, match=r"no texts for languages \['fr'\]"):
        two_tower.load_or_train(base, task, toy_texts(task), cfg, progress=False)


def test_in_batch_false_negatives_replays_the_batches_training_draws(tiny_bert, tiny_tokenizer, tmp_path,
                                                                     monkeypatch):
    # more pairs than a batch, so the seed and the batch order matter: the batches the replay counts are the
    # batches train_contrastive trains on, step by step
    from xlrec_lib.crosslingual import contrastive

    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    drawn = {"train": [], "replay": []}
    real = contrastive.pair_batch_indices
    who = {"now": "train"}

    def spy(*args, **kwargs):
        for idx in real(*args, **kwargs):
            drawn[who["now"]].append(np.asarray(idx).tolist())
            yield idx

    monkeypatch.setattr(contrastive, "pair_batch_indices", spy)
    task = toy_task()
    texts = toy_texts(task)
    cfg = two_tower.TwoTowerConfig(langs=("en", "zh"), steps=5, batch_size=2, max_length=16, seed=3)
    base = HFEncoder(tiny_bert, tiny_tokenizer, "tiny", prefix="x ", max_length=16)
    two_tower.load_or_train(base, task, texts, cfg, progress=False)
    who["now"] = "replay"
    two_tower.in_batch_false_negatives(task, texts, cfg)
    assert len(drawn["train"]) >= cfg.steps and len(drawn["replay"]) >= cfg.steps
    assert drawn["replay"][: cfg.steps] == drawn["train"][: cfg.steps]
    assert len({tuple(b) for b in drawn["train"][: cfg.steps]}) > 1  # several different batches
