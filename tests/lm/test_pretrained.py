import json

import pandas as pd
import pytest
import torch

from xlrec_lib.lm import corpus, pretrained

EN = ["in the beginning god created the heaven and the earth", "and the earth was without form and void",
      "and god said let there be light", "and there was light", "and god saw the light that it was good"]
ZH = ["起初神创造天地", "地是空虚混沌", "神说要有光", "就有了光", "神看光是好的"]


def _fake_verses(langs):
    # five verses in each of Genesis, Exodus (train), Mark (valid) and John (test)
    ids = [b * 1_000_000 + 1000 + v for b in (1, 2, 41, 43) for v in range(1, 6)]
    frame = pd.DataFrame({"verse_id": ids, "en": EN * 4, "zh": ZH * 4})
    return frame.assign(split=corpus.book_split(frame["verse_id"]))


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    monkeypatch.setattr(pretrained, "load_verses", _fake_verses)
    monkeypatch.setattr(pretrained, "extra_training_texts", lambda: {"zh": ["好评"], "en": ["Toy Story (1995)"]})
    return pretrained.PretrainConfig(langs=("en", "zh"), vocab_size=120, hidden_size=32, num_layers=1,
                                     num_heads=2, intermediate_size=64, max_length=64, batch_size=4, steps=8,
                                     eval_every=4)


def test_config_key_changes_with_config_and_rejects_unknown_objective():
    a, b = pretrained.PretrainConfig(), pretrained.PretrainConfig(steps=7)
    assert a.key() != b.key() and a.key() == pretrained.PretrainConfig().key()
    assert pretrained.course_config(quick=True).key() != pretrained.course_config(quick=False).key()
    with pytest.raises(ValueError, match="objective"):
        pretrained.PretrainConfig(objective="clm")


def test_build_streams_per_objective(tiny):
    verses = _fake_verses(tiny.langs)
    tok = pretrained.load_or_train_tokenizer(tiny, verses, {})
    for objective, names in [("mlm", {"en", "zh"}), ("mlm+tlm", {"en", "zh", "en-zh"}),
                             ("mlm+tlm+nsp", {"en", "zh", "en-zh", "nsp"})]:
        cfg = pretrained.replace(tiny, objective=objective)
        streams, probs = pretrained.build_streams(cfg, tok, verses, {})
        assert set(streams) == set(probs) == names
        assert sum(probs.values()) == pytest.approx(1.0)


def test_load_or_train_trains_once_then_loads(tiny, monkeypatch):
    from transformers import AutoModel, pipeline

    tok, model = pretrained.load_or_train(tiny, progress=False)
    folder = pretrained.checkpoint_dir(tiny)
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists()
    history, info = pretrained.training_record(tiny)
    assert len(history) == 8 and "valid_ppl_zh" in history and info["config"]["steps"] == 8
    monkeypatch.setattr(pretrained, "pretrain", lambda *a, **k: pytest.fail("should load, not train"))
    tok2, model2 = pretrained.load_or_train(tiny)
    for p, q in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(p, q)
    assert AutoModel.from_pretrained(folder).config.hidden_size == 32
    fill = pipeline("fill-mask", model=str(folder), tokenizer=str(folder))
    assert len(fill("and there was [MASK]")) == 5
    assert json.loads((folder / "xlrec_pretrain.json").read_text())["config"]["objective"] == "mlm+tlm"


def test_nsp_objective_saves_a_pretraining_model(tiny):
    cfg = pretrained.replace(tiny, objective="mlm+tlm+nsp")
    _, model = pretrained.load_or_train(cfg, progress=False)
    assert type(model).__name__ == "BertForPreTraining"


def test_output_bias_starts_at_the_unigram_prior(tiny):
    from xlrec_lib.lm import mlm

    verses = _fake_verses(tiny.langs)
    tok = pretrained.load_or_train_tokenizer(tiny, verses, {})
    streams, _ = pretrained.build_streams(tiny, tok, verses, {})
    train = [s.examples for s in streams.values()]
    prior = mlm.unigram_log_probs(train, len(tok))
    held = pretrained.held_out_examples(tiny, tok, verses)["en"]
    with_prior = pretrained.build_model(tiny, tok, prior)
    without = pretrained.build_model(tiny, tok)
    unigram = mlm.unigram_loss(train, held, len(tok))
    assert abs(mlm.masked_lm_loss(with_prior, tok, held) - unigram) < 0.5
    assert mlm.masked_lm_loss(without, tok, held) > unigram + 0.5
