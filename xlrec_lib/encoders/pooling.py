"""Token vectors to sentence vectors: mean pooling over the real tokens, run over a list of texts in batches.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm


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
    if isinstance(texts, str):
        raise TypeError("embed_texts expects a list of texts, got one string")
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
