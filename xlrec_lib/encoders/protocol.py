"""One protocol for every sentence encoder, and its cache.

An encoder has a ``name`` (for tables), a ``key`` (changes whenever its output could change: weights, tokenizer,
prefix, pooling) and ``encode(texts) -> (n, dim)``: float32 rows of unit L2 norm on the CPU, one per text, in
order. Every loader returns such an object: ``pooling.HFEncoder`` (any ``transformers`` model, mean pooled; the
hub switch, e5-small, MiniLM, the course's own MLM and aligned models) and ``use.USEEncoder``.

``cached_encode(encoder, texts)`` stores the vectors through ``xlrec_lib.cache`` under the encoder's ``key`` and
a digest of the texts, so a second call with the same encoder and texts reads them back (checked) instead of
encoding again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch

from xlrec_lib import cache
from xlrec_lib.vectors import first_non_unit_row

VERSION = 1  # the embeddings file written by cached_encode; a change of its content bumps it in the same commit
EMBEDDINGS_FILE = "embeddings.safetensors"


class Encoder(Protocol):
    name: str
    key: str

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """``(len(texts), dim)`` float32 unit rows."""
        ...


def check_texts(texts, who: str) -> list[str]:
    """``texts`` as a list of str; one string, or an item that is not a str, is a ``TypeError`` naming it."""
    if isinstance(texts, str):
        raise TypeError(f"{who} expects a list of texts, got one string; wrap it: [{texts[:40]!r}]")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{who}: texts[{i}] is {type(t).__name__} ({t!r:.40}), not str")
    return texts


def check_unit_rows(vectors: torch.Tensor, n: int, who: str) -> torch.Tensor:
    """``vectors`` if it is ``(n, dim)`` float32 with rows of norm 1 (or 0 for a text without tokens), else a
    ``ValueError`` naming the encoder: the contract every ``encode`` keeps."""
    if not isinstance(vectors, torch.Tensor) or vectors.dtype != torch.float32 or vectors.ndim != 2 or \
            vectors.shape[0] != n:
        got = f"{type(vectors).__name__} {getattr(vectors, 'dtype', '')} {tuple(getattr(vectors, 'shape', ()))}"
        raise ValueError(f"{who}.encode must return a ({n}, dim) float32 tensor, got {got}")
    if (off := first_non_unit_row(vectors)) is not None:
        raise ValueError(f"{who}.encode must return unit rows; row {off[0]} has norm {off[1]:.4f}")
    return vectors


def texts_digest(texts: Sequence[str]) -> str:
    """A digest of the texts and their order (``["ab", "c"]`` and ``["a", "bc"]`` differ)."""
    return cache.fingerprint(list(texts), None)


def embeddings_dir(encoder: Encoder, texts: Sequence[str]) -> Path:
    """The cache folder of ``encoder``'s vectors of ``texts``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder.name).strip("._")[:60] or "encoder"
    key = cache.fingerprint({"encoder": encoder.key, "texts": texts_digest(texts)}, VERSION)
    return cache.artefact_dir("embeddings", f"{slug}-{key}")


def cached_encode(encoder: Encoder, texts: Sequence[str], use_cache: bool = True) -> torch.Tensor:
    """``encoder.encode(texts)``, checked against the protocol; stored as safetensors through ``xlrec_lib.cache``
    and read back (checked) on the next call with the same encoder ``key`` and texts."""
    from safetensors.torch import load, save_file

    texts = check_texts(texts, "cached_encode")
    who = type(encoder).__name__
    if not use_cache:
        return check_unit_rows(encoder.encode(texts), len(texts), who)

    def build(tmp: Path) -> None:
        vectors = check_unit_rows(encoder.encode(texts), len(texts), who)
        save_file({"embeddings": vectors.contiguous()}, str(tmp / EMBEDDINGS_FILE),
                  metadata={"encoder": encoder.key, "n": str(len(texts))})

    def read(folder: Path) -> torch.Tensor:  # a copy in memory: a memory map would change with the file
        return check_unit_rows(load((folder / EMBEDDINGS_FILE).read_bytes())["embeddings"], len(texts), who)

    return cache.load_or_build(embeddings_dir(encoder, texts), build, read)


__all__ = ["VERSION", "Encoder", "check_texts", "check_unit_rows", "texts_digest", "embeddings_dir",
           "cached_encode"]
