import numpy as np
import pandas as pd
import pytest
import torch

from xlrec_lib.crosslingual.aligned_encoder import AlignConfig, data_digest, load_or_align, training_sample


def verses():
    return pd.DataFrame({
        "verse_id": [1_001_001, 1_001_002, 1_001_003, 41_001_001, 43_001_001, 1_001_004],
        "split": ["train", "train", "train", "valid", "test", "train"],
        "en": ["a b", "c d", "e f", "g h", "x y", "a c"],
        "zh": ["甲 b", "丙 d", "e f z", "g h z", "x y z", "甲 丙"],
        "fr": ["a", "c", "e", "g", "x", "y"],
    })


def test_training_sample_uses_the_train_split_only():
    sample = training_sample(verses(), AlignConfig(langs=("zh", "fr")))
    assert len(sample.src) == 8 and "g h" not in sample.src and "x y" not in sample.src
    assert sorted(zip(sample.src, sample.tgt, strict=True))[:2] == [("a b", "a"), ("a b", "甲 b")]
    assert set(sample.pair) == {"en-zh", "en-fr"}
    assert len(training_sample(verses(), AlignConfig(train_fraction=0.5)).src) == 2
    every = training_sample(verses(), AlignConfig(langs=("zh", "fr"), pair_mix="all"))
    assert set(every.pair) <= {"en-zh", "en-fr", "zh-fr"} and len(every.src) == 8
    with pytest.raises(ValueError, match="tokenizer"):
        training_sample(verses(), AlignConfig(alpha=0.5))


def test_load_or_align_trains_once_then_loads(tiny_tokenizer, tiny_bert, tmp_path, monkeypatch):
    from xlrec_lib.crosslingual import contrastive
    from xlrec_lib.encoders import hub

    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    before = {k: v.clone() for k, v in tiny_bert.state_dict().items()}
    cfg = AlignConfig(steps=4, batch_size=2, lr=1e-3)
    enc, info = load_or_align(tiny_tokenizer, tiny_bert, "tiny", verses(), cfg, progress=False)
    assert info["pairs"] == 4 and len(info["losses"]) == 4 and info["base"] == "tiny"
    assert info["pair_shares"] == {"en-zh": 1.0} and info["curve"] == {}
    for k, v in tiny_bert.state_dict().items():  # the base model is untouched
        torch.testing.assert_close(v, before[k])
    texts = ["a b", "甲 丙"]
    vectors = enc.encode(texts)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(2))
    monkeypatch.setattr(contrastive, "train_contrastive", lambda *a, **k: pytest.fail("must load, not train"))
    again, info2 = load_or_align(tiny_tokenizer, tiny_bert, "tiny", verses(), cfg, progress=False)
    assert info2 == info and again.key == enc.key
    torch.testing.assert_close(again.encode(texts), vectors)
    with pytest.raises(pytest.fail.Exception, match="must load"):  # another config trains anew
        load_or_align(tiny_tokenizer, tiny_bert, "tiny", verses(), AlignConfig(steps=4, batch_size=2, seed=1))
    other = verses()
    other.loc[0, "zh"] = "乙 b"  # other training texts are another model
    with pytest.raises(pytest.fail.Exception, match="must load"):
        load_or_align(tiny_tokenizer, tiny_bert, "tiny", other, cfg)
    test_changed = verses()
    test_changed.loc[4, "zh"] = "x"  # a test verse is never read: the same model
    assert load_or_align(tiny_tokenizer, tiny_bert, "tiny", test_changed, cfg, progress=False)[0].key == enc.key
    # the saved folder is a whole encoder: the switch loads it
    folder = tmp_path / "models" / cfg.key("tiny", data_digest(verses(), cfg))
    torch.testing.assert_close(hub.from_spec(f"hf:{folder}").encode(texts), vectors)


@pytest.mark.parametrize("change", [dict(langs=()), dict(langs=("en", "zh")), dict(pair_mix="every"),
                                    dict(alpha=-0.5), dict(steps=0), dict(batch_size=1), dict(lr=0.0),
                                    dict(temperature=0.0), dict(max_length=2), dict(train_fraction=0.0),
                                    dict(train_fraction=1.5), dict(code_switch=1.0), dict(eval_every=-1),
                                    dict(eval_verses=0), dict(langs="zh"), dict(langs=("zh", "zh")),
                                    dict(langs=["zh"])])
def test_align_config_refuses_values_out_of_range(change):
    with pytest.raises(ValueError, match=f"AlignConfig: {{'{next(iter(change))}'"):
        AlignConfig(**change)


def test_key_follows_base_config_and_versions(monkeypatch):
    from xlrec_lib.crosslingual import aligned_encoder, code_switching

    cfg = AlignConfig(steps=4)
    keys = {cfg.key("tiny"), cfg.key("other"), AlignConfig(steps=5).key("tiny")}
    monkeypatch.setattr(aligned_encoder, "VERSION", aligned_encoder.VERSION + 1)
    keys.add(cfg.key("tiny"))
    monkeypatch.setattr(code_switching, "VERSION", code_switching.VERSION + 1)
    keys.add(cfg.key("tiny"))
    assert len(keys) == 5


def test_align_records_a_mark_curve(tiny_tokenizer, tiny_bert):
    from xlrec_lib.crosslingual.aligned_encoder import align

    cfg = AlignConfig(langs=("zh", "fr"), pair_mix="all", steps=4, batch_size=2, eval_every=2, eval_verses=1)
    _, info = align(tiny_tokenizer, tiny_bert, verses(), cfg, progress=False)
    assert info["curve"]["step"] == [2, 4]
    assert all(0 <= p <= 1 for p in info["curve"]["mark_p1"] + info["curve"]["mark_p1_pivot"])
    with pytest.raises(ValueError, match="code-switching"):
        align(tiny_tokenizer, tiny_bert, verses(), AlignConfig(pair_mix="all", code_switch=0.1), progress=False)


def test_choice_config_per_mode():
    from xlrec_lib.crosslingual.aligned_encoder import choice_config, multilingual_config

    # quick: the arm is the quick model's own configuration (same cache key), at the quick budget
    quick = choice_config(True, "pivot", 0.5, center=False)
    assert quick == multilingual_config(True, pair_mix="pivot", alpha=0.5, center=False)
    assert (quick.steps, quick.batch_size, quick.lr, quick.center) == (120, 64, 2e-3, False)
    # full: 250 x 128 at 1e-3, no curve; the pair mix and sampling are the arm's
    full = choice_config(False, "pivot", 0.5)
    assert (full.steps, full.batch_size, full.lr, full.eval_every) == (250, 128, 1e-3, 0)
    assert (full.pair_mix, full.alpha, full.center) == ("pivot", 0.5, True)


def test_multilingual_config_per_mode():
    from xlrec_lib.crosslingual.aligned_encoder import SIX_LANGUAGES, multilingual_config

    quick, full = multilingual_config(True), multilingual_config(False)
    assert quick.langs == full.langs == SIX_LANGUAGES and quick.pair_mix == full.pair_mix == "all"
    assert (quick.steps, quick.batch_size, quick.center) == (120, 64, True)
    assert (full.steps, full.batch_size, full.center, full.eval_every) == (1000, 128, True, 250)
    assert multilingual_config(False, cuda=True).steps == 1500
    assert multilingual_config(True, pair_mix="pivot", center=False).key("b") != quick.key("b")


def test_course_encoder_is_one_call_over_the_chapter_models(monkeypatch):
    from types import SimpleNamespace

    from xlrec_lib.crosslingual import aligned_encoder
    from xlrec_lib.lm import corpus, pretrained

    calls = []
    monkeypatch.setattr(pretrained, "load_or_train", lambda quick, progress: ("tok", "mlm"))
    monkeypatch.setattr(pretrained, "checkpoint_dir", lambda quick: __import__("pathlib").Path(f"/x/mlm-{quick}"))
    monkeypatch.setattr(corpus, "load_verses", lambda langs: f"verses{langs}")

    def fake_load_or_align(tokenizer, model, base_key, verses, cfg, progress, name):
        calls.append(dict(tokenizer=tokenizer, model=model, base_key=base_key, verses=verses, cfg=cfg))
        stage = len(calls)
        return SimpleNamespace(model=f"bert-{stage}", weights_key=f"aligned-{stage}"), {"stage": stage}

    monkeypatch.setattr(aligned_encoder, "load_or_align", fake_load_or_align)
    encoder, info = aligned_encoder.course_encoder(quick=True, progress=False)
    assert info == {"stage": 2} and encoder.model == "bert-2"
    # stage 1: English-Chinese from the MLM checkpoint; stage 2: the six languages from that model
    first, second = calls
    assert (first["model"], first["base_key"], first["cfg"]) == ("mlm", "mlm-True", aligned_encoder.pair_config(True))
    assert (second["model"], second["base_key"]) == ("bert-1", "aligned-1")
    assert second["cfg"] == aligned_encoder.multilingual_config(True)
    assert first["verses"] == second["verses"] == f"verses{corpus.PRETRAIN_LANGS}"


def test_pair_encoder_reads_the_mode_and_centring(monkeypatch):
    from xlrec_lib.crosslingual import aligned_encoder

    seen = []
    monkeypatch.setattr(aligned_encoder, "load_or_align",
                        lambda tokenizer, bert, base_key, verses, cfg, progress, name: seen.append(cfg) or cfg)
    monkeypatch.setenv("XLREC_QUICK", "1")
    aligned_encoder.pair_encoder("tok", "bert", "mlm", "verses")  # None: the mode of XLREC_QUICK
    monkeypatch.setenv("XLREC_QUICK", "0")
    aligned_encoder.pair_encoder("tok", "bert", "mlm", "verses", center=False)
    aligned_encoder.pair_encoder("tok", "bert", "mlm", "verses", quick=True)
    cuda = aligned_encoder.device().type == "cuda"  # full mode's steps follow the device
    assert seen == [aligned_encoder.pair_config(True), aligned_encoder.pair_config(False, cuda=cuda, center=False),
                    aligned_encoder.pair_config(True)]


def test_pair_config_per_mode():
    from xlrec_lib.crosslingual.aligned_encoder import pair_config

    quick, full = pair_config(True), pair_config(False)
    assert quick == AlignConfig(steps=120, batch_size=64, lr=2e-3, center=True)
    assert (quick.langs, quick.pair_mix) == (("zh",), "pivot")
    assert (full.steps, full.batch_size, full.lr, full.eval_every) == (1000, 128, 1e-3, 0)
    assert pair_config(False, cuda=True).steps == 1500 and not pair_config(True, center=False).center


def test_valid_hits_read_mark_only(tiny_tokenizer, tiny_bert):
    from xlrec_lib.crosslingual.aligned_encoder import mark_curve, valid_hits

    v = pd.concat([verses(), verses().assign(split="valid", verse_id=lambda f: f["verse_id"] + 41_000_000)])
    hits = valid_hits(tiny_bert, tiny_tokenizer, v, ("en", "zh", "fr"), n_verses=3, max_length=16)
    assert set(hits) == {(a, b) for a in ("en", "zh", "fr") for b in ("en", "zh", "fr") if a != b}
    assert all(h.shape == (3,) for h in hits.values())  # the first 3 of the 7 valid rows
    scores = mark_curve(tiny_tokenizer, v, ("en", "zh", "fr"), 3, 16)(tiny_bert)
    assert scores["mark_p1"] == pytest.approx(np.mean([h.mean() for h in hits.values()]))
    assert set(scores) == {"mark_p1", "mark_p1_pivot", "mark_p1_other"}
    with pytest.raises(ValueError, match="valid"):
        valid_hits(tiny_bert, tiny_tokenizer, verses()[verses()["split"] != "valid"], ("en", "zh"), 3, 16)
    rest = valid_hits(tiny_bert, tiny_tokenizer, v, ("en", "zh"), None, 16, skip=3)  # the 4 valid rows after 3
    v = v.reset_index(drop=True)
    first_valid = v.index[v["split"] == "valid"][:3]
    alone = valid_hits(tiny_bert, tiny_tokenizer, v.drop(first_valid), ("en", "zh"), None, 16)
    assert all(np.array_equal(rest[pair], alone[pair]) and len(rest[pair]) == 4 for pair in rest)
    two = valid_hits(tiny_bert, tiny_tokenizer, v, ("en", "zh"), 2, 16, skip=3)  # rows 4 and 5 of the 7
    alone_two = valid_hits(tiny_bert, tiny_tokenizer, v.drop(first_valid), ("en", "zh"), 2, 16)
    assert all(np.array_equal(two[pair], alone_two[pair]) for pair in two)
    with pytest.raises(ValueError, match="skip must be"):
        valid_hits(tiny_bert, tiny_tokenizer, v, ("en", "zh"), None, 16, skip=-1)
    with pytest.raises(ValueError, match="after the first 7"):
        valid_hits(tiny_bert, tiny_tokenizer, v, ("en", "zh"), None, 16, skip=7)


def test_p1_means_hand_case():
    from xlrec_lib.crosslingual.aligned_encoder import p1_means

    hits = {("en", "zh"): np.array([1.0, 1.0]), ("zh", "en"): np.array([1.0, 0.0]),
            ("zh", "fr"): np.array([0.0, 0.0]), ("fr", "zh"): np.array([1.0, 0.0])}
    assert p1_means(hits) == pytest.approx({"mark_p1": 0.5, "mark_p1_pivot": 0.75, "mark_p1_other": 0.25})
    assert set(p1_means({("en", "zh"): np.array([1.0])})) == {"mark_p1", "mark_p1_pivot"}
    assert p1_means({("fr", "zh"): np.array([1.0, 0.0])}) == {"mark_p1": 0.5, "mark_p1_other": 0.5}  # no NaN


def test_key_follows_the_pooling_the_pair_sampling_and_the_lexicon_archive(monkeypatch):
    from xlrec_lib.crosslingual import pair_sampling
    from xlrec_lib.data import sources
    from xlrec_lib.encoders import pooling

    cfg = AlignConfig()
    before = cfg.key("tiny")
    for module in (pooling, pair_sampling):
        monkeypatch.setattr(module, "VERSION", module.VERSION + 1)
        assert cfg.key("tiny") != before
        monkeypatch.undo()
    real = sources.get_source

    def other_cedict(name):
        source = real(name)
        return source if name != "cedict" else type(source)(**{**source.__dict__, "sha256": "0" * 64})

    monkeypatch.setattr(sources, "get_source", other_cedict)
    assert cfg.key("tiny") != before
