import json

import pytest
import torch

from xlrec_lib.cache import CacheWarning
from xlrec_lib.lm import pretrained


@pytest.fixture
def tiny(tiny_pretrain):
    return tiny_pretrain


def test_config_key_changes_with_config_and_version_and_rejects_unknown_objective(monkeypatch):
    a, b = pretrained.PretrainConfig(), pretrained.PretrainConfig(steps=7)
    assert a.key() != b.key() and a.key() == pretrained.PretrainConfig().key()
    assert pretrained.course_config(quick=True).key() != pretrained.course_config(quick=False).key()
    before = a.key()
    monkeypatch.setattr(pretrained, "VERSION", pretrained.VERSION + 1)  # a change of results bumps the version
    assert a.key() != before
    with pytest.raises(ValueError, match="objective"):
        pretrained.PretrainConfig(objective="clm")


def test_nsp_pairs_version_keys_only_the_models_trained_on_nsp_pairs(monkeypatch):
    from xlrec_lib.lm import corpus

    configs = {obj: pretrained.PretrainConfig(objective=obj) for obj in pretrained.OBJECTIVES}
    before = {obj: cfg.key() for obj, cfg in configs.items()}
    monkeypatch.setattr(corpus, "NSP_PAIRS_VERSION", corpus.NSP_PAIRS_VERSION + 1)
    after = {obj: cfg.key() for obj, cfg in configs.items()}
    assert after["mlm"] == before["mlm"] and after["mlm+tlm"] == before["mlm+tlm"]
    assert after["mlm+tlm+nsp"] != before["mlm+tlm+nsp"]


def test_build_streams_per_objective(tiny, fake_verses_factory):
    verses = fake_verses_factory(tiny.langs)
    tok = pretrained.load_or_train_tokenizer(tiny, verses, {})
    for objective, names in [("mlm", {"en", "zh"}), ("mlm+tlm", {"en", "zh", "en-zh"}),
                             ("mlm+tlm+nsp", {"en", "zh", "en-zh", "nsp"})]:
        cfg = pretrained.replace(tiny, objective=objective)
        streams, probs = pretrained.build_streams(cfg, tok, verses, {})
        assert set(streams) == set(probs) == names
        assert sum(probs.values()) == pytest.approx(1.0)
    # every other verse: no verse keeps its successor, so NSP has nothing to train on
    gappy = verses[verses["verse_id"] % 2 == 0]
    with pytest.raises(ValueError, match="no training verse is followed by the next verse"):
        pretrained.build_streams(pretrained.replace(tiny, objective="mlm+tlm+nsp"), tok, gappy, {})


def test_shared_tokenization_tokenises_shared_texts_once_per_tokenizer(tiny, fake_verses_factory, monkeypatch):
    verses = fake_verses_factory(tiny.langs)
    tok = pretrained.load_or_train_tokenizer(tiny, verses, {})
    monkeypatch.setattr(pretrained, "_TOKENIZED", {})
    calls = []
    real = pretrained.tokenize_examples
    monkeypatch.setattr(pretrained, "tokenize_examples", lambda *a, **k: calls.append(k) or real(*a, **k))
    mlm_cfg = pretrained.replace(tiny, objective="mlm")
    pretrained.build_streams(mlm_cfg, tok, verses, {})
    pretrained.build_streams(mlm_cfg, tok, verses, {})
    assert len(calls) == 4 and not pretrained._TOKENIZED  # outside the block: nothing kept
    with pretrained.shared_tokenization():
        mlm_only, _ = pretrained.build_streams(mlm_cfg, tok, verses, {})
        assert len(calls) == 6  # en, zh
        with_tlm, _ = pretrained.build_streams(tiny, tok, verses, {})
        assert len(calls) == 7  # only the en-zh pairs are new
        mono = pretrained.monolingual_texts(verses, tiny.langs, "train", {})
        for name in ("en", "zh"):  # the kept examples are what a fresh tokenisation gives
            assert with_tlm[name].examples is mlm_only[name].examples
            assert with_tlm[name].examples == real(tok, texts=mono[name], max_length=tiny.max_length), name
        # what tokenize_examples reads of the tokenizer, changed: tokenised again
        pretrained.build_streams(pretrained.replace(tiny, max_length=16), tok, verses, {})
        assert len(calls) == 10
        for setting, value in (("truncation_side", "left"), ("split_special_tokens", True)):
            monkeypatch.setattr(tok, setting, value)
            before = len(calls)
            pretrained.build_streams(mlm_cfg, tok, verses, {})
            assert len(calls) == before + 2, setting
        other = pretrained.load_or_train_tokenizer(pretrained.replace(tiny, vocab_size=tiny.vocab_size - 50), verses,
                                                   {})
        pretrained.build_streams(mlm_cfg, other, verses, {})
        assert len(calls) == 16 and len(pretrained._TOKENIZED) == 2  # only the last tokenizer's entries stay
        other("a call that sets truncation and padding on the backend", truncation=True, padding="max_length",
              max_length=12)
        assert other.backend_tokenizer.truncation is not None
        pretrained.build_streams(mlm_cfg, other, verses, {})
        assert len(calls) == 16  # the backend's own padding and truncation are not part of the key
    assert not pretrained._TOKENIZED  # freed on leaving the block


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


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_checkpoint_is_named_and_trained_again(tiny, damage):
    _, model = pretrained.load_or_train(tiny, progress=False)
    expected = [p.detach().clone() for p in model.parameters()]  # the loaded tensors may map the file itself
    del model
    path = pretrained.checkpoint_dir(tiny) / "model.safetensors"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-5] ^= 0x01  # one bit of the last weight: a silently different model if it were read back
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.warns(CacheWarning, match=r"model\.safetensors"):
        _, again = pretrained.load_or_train(tiny, progress=False)
    for p, q in zip(expected, again.parameters(), strict=True):  # seeded: the same model again
        assert torch.equal(p, q)


def test_tokenizer_is_cached_by_its_texts(tiny, fake_verses_factory, monkeypatch):
    verses = fake_verses_factory(tiny.langs)
    tok = pretrained.load_or_train_tokenizer(tiny, verses, {})
    monkeypatch.setattr(pretrained, "train_wordpiece", lambda *a, **k: pytest.fail("must load, not train"))
    assert pretrained.load_or_train_tokenizer(tiny, verses, {}).get_vocab() == tok.get_vocab()
    with pytest.raises(pytest.fail.Exception, match="must load"):  # other texts: another tokenizer
        pretrained.load_or_train_tokenizer(tiny, verses, {"en": ["a new text"]})


def test_nsp_objective_saves_a_pretraining_model(tiny):
    cfg = pretrained.replace(tiny, objective="mlm+tlm+nsp")
    _, model = pretrained.load_or_train(cfg, progress=False)
    assert type(model).__name__ == "BertForPreTraining"


def test_output_bias_starts_at_the_unigram_prior(tiny, fake_verses_factory):
    from xlrec_lib.lm import mlm

    verses = fake_verses_factory(tiny.langs)
    tok = pretrained.load_or_train_tokenizer(tiny, verses, {})
    streams, _ = pretrained.build_streams(tiny, tok, verses, {})
    train = [s.examples for s in streams.values()]
    prior = mlm.unigram_log_probs(train, len(tok))
    held = pretrained.held_out_examples(tiny, tok, verses)["en"]
    with_prior = pretrained.build_model(tiny, tok, prior)
    without = pretrained.build_model(tiny, tok)
    held_ids = [i for ids, words in zip(held.input_ids, held.word_ids, strict=True)
                for i, w in zip(ids, words, strict=True) if w >= 0]  # regular tokens
    unigram = -prior[torch.tensor(held_ids)].mean().item()  # a model that ignores context
    assert abs(mlm.masked_lm_loss(with_prior, tok, held) - unigram) < 0.5
    assert mlm.masked_lm_loss(without, tok, held) > unigram + 0.5


def test_starting_model_is_the_model_pretrain_steps_from(tiny, monkeypatch):
    seen = {}

    def no_training(model, *args, **kwargs):
        seen.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        raise RuntimeError("stop before the first step")

    monkeypatch.setattr(pretrained, "train", no_training)
    with pytest.raises(RuntimeError, match="first step"):
        pretrained.pretrain(tiny, progress=False)
    tokenizer = pretrained.training_start(tiny)[0]
    start = pretrained.starting_model(tiny)
    assert not start.training
    state = start.state_dict()
    assert set(state) == set(seen) and all(torch.equal(state[k].cpu(), seen[k].cpu()) for k in seen)
    monkeypatch.setattr(pretrained, "training_start", lambda cfg: pytest.fail("should load, not rebuild"))
    again = pretrained.starting_model(tiny).state_dict()
    assert all(torch.equal(again[k].cpu(), state[k].cpu()) for k in state)
    no_prior = pretrained.build_model(tiny, tokenizer)
    assert not torch.equal(state["cls.predictions.bias"].cpu(), no_prior.cls.predictions.bias)


def test_training_caches_the_starting_model_it_stepped_from(tiny, monkeypatch):
    pretrained.load_or_train(tiny, progress=False)
    rebuilt = pretrained.training_start(tiny)[-1].state_dict()
    monkeypatch.setattr(pretrained, "training_start", lambda cfg: pytest.fail("should load, not rebuild"))
    cached = pretrained.starting_model(tiny).state_dict()
    assert set(cached) == set(rebuilt) and all(torch.equal(cached[k].cpu(), rebuilt[k]) for k in rebuilt)


def test_geometric_mean_by_hand_and_refusals():
    assert pretrained.geometric_mean([1.0, 100.0]) == pytest.approx(10.0)
    assert pretrained.geometric_mean({"en": 4.0, "zh": 9.0}.values()) == pytest.approx(6.0)
    for bad in ([], [0.0, 1.0], [float("nan")]):
        with pytest.raises(ValueError, match="positive, finite"):
            pretrained.geometric_mean(bad)


def test_held_out_curve_reads_the_evaluation_steps_with_tokens_seen_so_far():
    import pandas as pd

    nan = float("nan")
    history = pd.DataFrame({"tokens": [10, 20, 30, 40],
                            "valid_ppl_en": [nan, 4.0, nan, 1.0], "valid_ppl_zh": [nan, 9.0, nan, 100.0]})
    curve = pretrained.held_out_curve(history)
    assert curve["tokens_seen"].tolist() == [30, 100]
    assert curve["perplexity"].tolist() == pytest.approx([6.0, 10.0])
    with pytest.raises(ValueError, match="valid_ppl"):
        pretrained.held_out_curve(history[["tokens"]])


def test_perplexity_at_tokens_interpolates_the_log_perplexity_in_tokens():
    import pandas as pd

    curve = pd.DataFrame({"tokens_seen": [100, 300], "perplexity": [400.0, 100.0]})
    # halfway from 100 to 300 tokens: exp of the mean of the logs, sqrt(400 * 100) = 200
    assert pretrained.perplexity_at_tokens(curve, 1600.0, 200) == pytest.approx(200.0)
    # before the first evaluation the start (at 0 tokens) is the other end: halfway, sqrt(1600 * 400) = 800
    assert pretrained.perplexity_at_tokens(curve, 1600.0, 50) == pytest.approx(800.0)
    assert pretrained.perplexity_at_tokens(curve, 1600.0, 300) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="outside the evaluations"):
        pretrained.perplexity_at_tokens(curve, 1600.0, 301)
    with pytest.raises(ValueError, match="tokens_seen must be positive and increasing"):
        pretrained.perplexity_at_tokens(curve.iloc[::-1], 1600.0, 200)
    with pytest.raises(ValueError, match="perplexities must be positive"):
        pretrained.perplexity_at_tokens(curve.assign(perplexity=[-4.0, 100.0]), 1600.0, 200)
    with pytest.raises(ValueError, match="start must be a positive"):
        pretrained.perplexity_at_tokens(curve, 0.0, 200)
    with pytest.raises(ValueError, match="lacks"):
        pretrained.perplexity_at_tokens(curve[["tokens_seen"]], 1600.0, 200)
