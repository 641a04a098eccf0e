"""The encoder protocol's checks and its cache: read back, keyed on encoder and texts, damaged files rebuilt."""

import pytest
import torch

from xlrec_lib.cache import CacheWarning
from xlrec_lib.encoders import protocol


class Counting:
    """A fake encoder: a fixed vector per text (its length and first character), counting its calls."""

    name = "fake encoder"

    def __init__(self, key="fake-1"):
        self.key, self.calls = key, []

    def encode(self, texts):
        self.calls.append(list(texts))
        raw = torch.tensor([[len(t), ord(t[0]) if t else 0, 1.0] for t in texts])
        return raw / raw.norm(dim=1, keepdim=True)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    return tmp_path


def test_check_texts_and_unit_rows():
    assert protocol.check_texts(("a", "b"), "x") == ["a", "b"]
    with pytest.raises(TypeError, match="one string"):
        protocol.check_texts("a b", "x")
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        protocol.check_texts(["a", 3], "x")
    protocol.check_unit_rows(torch.tensor([[0.6, 0.8], [0.0, 0.0]]), 2, "E")
    with pytest.raises(ValueError, match="row 0 has norm 2"):
        protocol.check_unit_rows(torch.tensor([[2.0, 0.0]]), 1, "E")
    with pytest.raises(ValueError, match=r"\(3, dim\) float32"):
        protocol.check_unit_rows(torch.ones(2, 2, dtype=torch.float64), 3, "E")


def test_cached_encode_reads_back_and_keys_on_encoder_and_texts(tmp_cache):
    enc = Counting()
    first = protocol.cached_encode(enc, ["a b", "c"])
    again = protocol.cached_encode(enc, ["a b", "c"])
    other = protocol.cached_encode(enc, ["a b", "d"])
    protocol.cached_encode(Counting(key="fake-2"), ["a b", "c"])
    assert enc.calls == [["a b", "c"], ["a b", "d"]]
    torch.testing.assert_close(first, again)
    assert not torch.equal(first, other)
    assert protocol.texts_digest(["ab", "c"]) != protocol.texts_digest(["a", "bc"])
    assert len(list((tmp_cache / "embeddings").iterdir())) == 3


def test_encoder_breaking_the_protocol_is_named(tmp_cache):
    class Raw(Counting):
        def encode(self, texts):
            return torch.ones(len(texts), 3)

    with pytest.raises(ValueError, match="Raw.encode must return unit rows"):
        protocol.cached_encode(Raw(), ["a"])
    assert not (tmp_cache / "embeddings").exists() or not any((tmp_cache / "embeddings").iterdir())


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_embeddings_file_is_named_and_encoded_again(tmp_cache, damage):
    enc = Counting()
    texts = ["a b", "c", "de"]
    first = protocol.cached_encode(enc, texts)
    path = protocol.embeddings_dir(enc, texts) / protocol.EMBEDDINGS_FILE
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-2] ^= 0x40  # inside the last float: a wrong number if it were read back
    else:
        data = data[:-4]
    path.write_bytes(bytes(data))
    with pytest.warns(CacheWarning, match=protocol.EMBEDDINGS_FILE):
        again = protocol.cached_encode(enc, texts)
    assert len(enc.calls) == 2
    assert torch.equal(again, first)
