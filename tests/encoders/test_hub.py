import pytest
import torch

from xlrec_lib.encoders import hub as encoders
from xlrec_lib.encoders.pooling import embed_texts


@pytest.fixture
def saved_tiny(tmp_path, tiny_tokenizer, tiny_bert):
    folder = tmp_path / "tiny-model"
    tiny_bert.save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


def test_parse_spec():
    assert encoders.parse_spec("hf:intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"
    assert encoders.parse_spec("hf: /tmp/x ") == "/tmp/x"
    for bad in ("intfloat/e5", "hf:", "st:model", ""):
        with pytest.raises(ValueError, match="hf:<model name or local folder>"):
            encoders.parse_spec(bad)


def test_env_switch_loads_a_local_model_with_mean_pooling(saved_tiny, tiny_tokenizer, tiny_bert, monkeypatch):
    monkeypatch.delenv(encoders.ENV, raising=False)
    assert encoders.from_env() is None
    monkeypatch.setenv(encoders.ENV, f"hf:{saved_tiny}")
    enc = encoders.from_env()
    texts = ["a b c", "x", "甲 乙"]
    out = enc.encode(texts)
    assert out.shape == (3, 16)
    torch.testing.assert_close(out, embed_texts(tiny_bert, tiny_tokenizer, texts))
    assert str(saved_tiny) in enc.key and "@" in enc.key  # the key follows the weights file
    prefixed = encoders.from_spec(f"hf:{saved_tiny}", prefix="x ")
    torch.testing.assert_close(prefixed.encode(["a"]), embed_texts(tiny_bert, tiny_tokenizer, ["x a"]))


def test_cached_encode_reads_back_and_keys_on_texts(saved_tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path / "cache"))
    enc = encoders.load_hf(saved_tiny)
    calls = []
    original = enc.encode

    def counting(texts, progress=False):
        calls.append(len(texts))
        return original(texts)

    enc.encode = counting
    first = encoders.cached_encode(enc, ["a b", "c"])
    again = encoders.cached_encode(enc, ["a b", "c"])
    other = encoders.cached_encode(enc, ["a b", "d"])
    assert calls == [2, 2]
    torch.testing.assert_close(first, again)
    assert not torch.equal(first, other)
    assert encoders.texts_key(["ab", "c"]) != encoders.texts_key(["a", "bc"])


def test_mlm_chapter_checkpoint_loads_through_the_switch(monkeypatch):
    from xlrec_lib.lm.pretrained import checkpoint_dir

    folder = checkpoint_dir(quick=True)
    if not (folder / "xlrec_pretrain.json").exists():
        pytest.skip(f"the MLM chapter's quick checkpoint is not trained yet ({folder})")
    monkeypatch.setenv(encoders.ENV, f"hf:{folder}")
    out = encoders.from_env().encode(["In the beginning was the Word.", "太初有道。"])
    assert out.shape[0] == 2 and torch.isfinite(out).all()
