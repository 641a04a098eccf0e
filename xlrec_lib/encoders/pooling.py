"""Token vectors to sentence vectors: mean pooling over the real tokens, run over a list of texts in batches, and
``HFEncoder``, any ``transformers`` encoder behind the encoder protocol (``protocol.py``).
"""

from __future__ import annotations

import hashlib
import json

import torch
from tqdm.auto import tqdm

from xlrec_lib import cache
from xlrec_lib.encoders.protocol import check_texts
from xlrec_lib.vectors import normalize_rows

VERSION = 1  # mean pooling and HFEncoder.encode below; a change of their vectors bumps it in the same commit


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors of real tokens: ``(batch, seq, dim)``, ``(batch, seq)`` -> ``(batch, dim)``.

    sum_t m_t h_t / sum_t m_t; padding (m_t = 0) does not count. A row without any token is an error.
    """
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)
    counts = m.sum(1)
    if (counts == 0).any():
        raise ValueError(f"mean_pool: rows {torch.nonzero(counts[:, 0] == 0).flatten().tolist()} have no tokens")
    return (hidden * m).sum(1) / counts


@torch.no_grad()
def embed_texts(model, tokenizer, texts: list[str], batch_size: int = 64, max_length: int = 128,
                device=None, progress: bool = False) -> torch.Tensor:
    """Mean-pooled last hidden states of ``texts``: ``(len(texts), dim)`` float32 on the CPU.

    ``model`` is any ``transformers`` encoder (``BertModel``, or a model whose ``base_model`` is one).
    Texts are sorted by length before batching so that little padding is computed; the output keeps
    the input order.
    """
    texts = check_texts(texts, "embed_texts")
    device = device or next(model.parameters()).device
    encoder = getattr(model, "base_model", model)
    was_training = encoder.training
    encoder.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), encoder.config.hidden_size)
    batches = range(0, len(texts), batch_size)
    for start in tqdm(batches, desc="embedding", disable=not progress):
        idx = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt").to(device)
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        out[idx] = mean_pool(hidden, batch["attention_mask"]).float().cpu()
    encoder.train(was_training)
    return out


def tokenizer_digest(tokenizer) -> str:
    """sha256 of a tokenizer's full definition (a fast tokenizer's JSON, else its vocabulary)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    blob = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class HFEncoder:
    """A ``transformers`` encoder, mean pooled, behind the encoder protocol: ``encode(texts) -> (n, dim)`` unit rows.

    ``prefix`` goes in front of every text (E5 wants ``"query: "``). ``key`` fingerprints the weights, tokenizer,
    prefix, ``max_length`` and ``VERSION``: from ``weights_key`` when given (a name that changes whenever the
    weights or tokenizer do, such as a cache folder's fingerprint), else from ``cache.weights_digest`` and
    ``tokenizer_digest``, hashed again whenever the model's tensors have been changed in place.
    """

    def __init__(self, model, tokenizer, name: str, prefix: str = "", max_length: int = 128, batch_size: int = 64,
                 weights_key: str | None = None):
        self.model, self.tokenizer, self.name, self.prefix = model, tokenizer, name, prefix
        self.max_length, self.batch_size, self.weights_key = max_length, batch_size, weights_key
        self._digest: tuple[tuple, str] | None = None

    def _weights_identity(self) -> str:
        if self.weights_key is not None:
            return self.weights_key
        versions = tuple(t._version for t in self.model.state_dict().values())  # bumped by every in-place change
        if self._digest is None or self._digest[0] != versions:
            self._digest = versions, cache.weights_digest(self.model) + tokenizer_digest(self.tokenizer)
        return self._digest[1]

    @property
    def key(self) -> str:
        config = {"weights": self._weights_identity(), "prefix": self.prefix, "max_length": self.max_length}
        return f"hf-{cache.fingerprint(config, VERSION)}"

    def encode(self, texts, progress: bool = False) -> torch.Tensor:
        """``(len(texts), hidden)`` float32 unit rows: mean-pooled last hidden states, L2-normalised."""
        texts = check_texts(texts, "HFEncoder.encode")
        pooled = embed_texts(self.model, self.tokenizer, [self.prefix + t for t in texts], batch_size=self.batch_size,
                             max_length=self.max_length, progress=progress)
        return normalize_rows(pooled)

    def __repr__(self) -> str:
        return f"HFEncoder({self.name!r}, prefix={self.prefix!r})"
