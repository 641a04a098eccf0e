import time

import pytest
import torch

from xlrec_lib.encoders import hub
from xlrec_lib.encoders.pooling import embed_texts
from xlrec_lib.vectors import normalize_rows


@pytest.fixture
def saved_tiny(tmp_path, tiny_tokenizer, tiny_bert):
    folder = tmp_path / "tiny-model"
    tiny_bert.save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


def test_parse_spec():
    assert hub.parse_spec("hf:intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"
    assert hub.parse_spec("hf: /tmp/x ") == "/tmp/x"
    for bad in ("intfloat/e5", "hf:", "st:model", ""):
        with pytest.raises(ValueError, match="hf:<model name or local folder>"):
            hub.parse_spec(bad)


def test_env_switch_loads_a_local_model_with_mean_pooling(saved_tiny, tiny_tokenizer, tiny_bert, monkeypatch):
    monkeypatch.delenv(hub.ENV, raising=False)
    assert hub.from_env() is None
    monkeypatch.setenv(hub.ENV, f"hf:{saved_tiny}")
    enc = hub.from_env()
    texts = ["a b c", "x", "甲 乙"]
    out = enc.encode(texts)
    assert out.shape == (3, 16) and out.dtype == torch.float32
    torch.testing.assert_close(out, normalize_rows(embed_texts(tiny_bert, tiny_tokenizer, texts)))
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))
    prefixed = hub.from_spec(f"hf:{saved_tiny}", prefix="x ")
    torch.testing.assert_close(prefixed.encode(["a"]), normalize_rows(embed_texts(tiny_bert, tiny_tokenizer, ["x a"])))
    assert prefixed.key != enc.key  # the prefix changes the vectors, so the key


def test_home_folder_is_expanded(saved_tiny, monkeypatch):
    monkeypatch.setenv("HOME", str(saved_tiny.parent))
    monkeypatch.setenv(hub.ENV, f"hf:~/{saved_tiny.name}")
    assert hub.from_env().name == str(saved_tiny)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        hub.from_spec(f"hf:{tmp_path / 'no-such-model'}")


def test_folder_without_tokenizer_files_is_refused(tmp_path, tiny_bert):
    folder = tmp_path / "weights-only"
    tiny_bert.save_pretrained(folder)
    with pytest.raises(ValueError, match=r"weights-only has no tokenizer files.*tokenizer\.save_pretrained"):
        hub.from_spec(f"hf:{folder}")


def test_tokenizer_of_special_tokens_only_is_refused(tmp_path, tiny_bert):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(specials)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    empty = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                    sep_token="[SEP]", mask_token="[MASK]")
    folder = tmp_path / "specials-only"
    tiny_bert.save_pretrained(folder)
    empty.save_pretrained(folder)
    with pytest.raises(ValueError, match=r"specials-only has 5 tokens, all special"):
        hub.from_spec(f"hf:{folder}")


def test_hub_name_offline_fails_fast_and_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty local Hugging Face cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"hf:someone/no-such-model: HF_HUB_OFFLINE is set.*hf:/path/to/folder"):
        hub.from_spec("hf:someone/no-such-model")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=hub.CONNECT_TIMEOUT_S: False)
    with pytest.raises(ConnectionError, match=r"someone/no-such-model.*not reachable"):
        hub.from_spec("hf:someone/no-such-model")
    assert time.perf_counter() - start < 10


def test_hub_reachable_is_false_for_a_closed_port(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    assert hub.hub_reachable(timeout=1.0) is False


def test_course_checkpoint_loads_through_the_switch(tiny_pretrain, monkeypatch):
    from xlrec_lib.lm.pretrained import checkpoint_dir, load_or_train

    load_or_train(tiny_pretrain, progress=False)
    monkeypatch.setenv(hub.ENV, f"hf:{checkpoint_dir(tiny_pretrain)}")
    out = hub.from_env().encode(["in the beginning god created", "起初神创造天地"])
    assert out.shape == (2, 32) and torch.isfinite(out).all()
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    assert (out[0] @ out[1]).item() < 0.999  # real tokens, not every word mapped to [UNK]
