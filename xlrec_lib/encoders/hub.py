"""Sentence encoders behind one method, ``encode(texts) -> (n, dim)``, and the ``XLREC_ENCODER`` switch.

``XLREC_ENCODER=hf:<name or local folder>`` swaps any ``transformers`` encoder into the chapters (for readers with
network access to a model hub, or a model folder on disk): ``AutoModel`` + ``AutoTokenizer`` with
``trust_remote_code=False`` and mean pooling of the last hidden states over the real tokens.

Embeddings can be cached (``cached_encode``) under a key made of the encoder's ``key`` and a hash of the texts.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from xlrec_lib.config import cache_dir
from xlrec_lib.encoders.pooling import embed_texts

ENV = "XLREC_ENCODER"


class HFEncoder:
    """A ``transformers`` encoder with mean pooling; ``prefix`` is put in front of every text (E5 wants
    ``"query: "``). ``key`` names the weights in cache keys: give a new one whenever the weights change."""

    def __init__(self, model, tokenizer, name: str, prefix: str = "", max_length: int = 128, batch_size: int = 64,
                 key: str | None = None):
        self.model, self.tokenizer, self.name, self.prefix = model, tokenizer, name, prefix
        self.max_length, self.batch_size = max_length, batch_size
        self.key = key or name

    def encode(self, texts: list[str], progress: bool = False) -> torch.Tensor:
        """``(len(texts), hidden)`` float32 mean-pooled vectors (not normalised)."""
        return embed_texts(self.model, self.tokenizer, [self.prefix + t for t in texts], batch_size=self.batch_size,
                           max_length=self.max_length, progress=progress)

    def __repr__(self) -> str:
        return f"HFEncoder({self.name!r}, prefix={self.prefix!r})"


def parse_spec(spec: str) -> str:
    """The model name or folder of an encoder spec ``hf:<name or path>``; anything else is an error."""
    kind, sep, target = spec.partition(":")
    if kind != "hf" or not sep or not target.strip():
        raise ValueError(f"{ENV}={spec!r}: expected 'hf:<model name or local folder>', e.g. 'hf:intfloat/"
                         "multilingual-e5-small' or 'hf:/path/to/saved/model'")
    return target.strip()


def load_hf(name_or_path: str | Path, prefix: str = "", max_length: int = 128) -> HFEncoder:
    """``AutoModel``/``AutoTokenizer`` of a hub name or local folder (no remote code), in eval mode."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False)
    model = AutoModel.from_pretrained(name_or_path, trust_remote_code=False).eval()
    key = str(name_or_path)
    weights = Path(name_or_path) / "model.safetensors"
    if weights.exists():  # a local folder: the key follows the weights, not only the path
        stat = weights.stat()
        key += f"@{stat.st_size}-{int(stat.st_mtime)}"
    return HFEncoder(model, tokenizer, str(name_or_path), prefix, max_length, key=key)


def from_spec(spec: str, prefix: str = "") -> HFEncoder:
    """The encoder of a spec ``hf:<name or path>``."""
    return load_hf(parse_spec(spec), prefix)


def from_env(prefix: str = "") -> HFEncoder | None:
    """The encoder named by ``XLREC_ENCODER``, or ``None`` when the variable is unset or empty."""
    spec = os.environ.get(ENV, "").strip()
    return from_spec(spec, prefix) if spec else None


def texts_key(texts: list[str]) -> str:
    h = hashlib.sha1()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def cached_encode(encoder, texts: list[str], cache: bool = True) -> torch.Tensor:
    """``encoder.encode(texts)``, stored as safetensors under ``cache_dir("embeddings")`` and read back on the next
    call with the same encoder ``key`` and texts."""
    from safetensors.torch import load_file, save_file

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in encoder.key)[-80:]
    path = cache_dir("embeddings") / f"{safe}-{hashlib.sha1(encoder.key.encode()).hexdigest()[:8]}-" \
                                     f"{texts_key(texts)}.safetensors"
    if cache and path.exists():
        return load_file(str(path))["embeddings"]
    out = torch.as_tensor(encoder.encode(texts), dtype=torch.float32).contiguous()
    if cache:
        save_file({"embeddings": out}, str(path), metadata={"encoder": encoder.key, "n": str(len(texts))})
    return out


__all__ = ["ENV", "HFEncoder", "parse_spec", "load_hf", "from_spec", "from_env", "texts_key", "cached_encode"]
