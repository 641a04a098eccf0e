"""What a Transformer costs: BERT's parameter count by formula, and attention's time and memory as n grows.
"""

from __future__ import annotations

import torch
from torch import nn

from xlrec_lib.lm.transformer import attention_weights, scaled_dot_product_attention


def bert_embedding_count(vocab_size: int = 30522, hidden_size: int = 768, max_position_embeddings: int = 512,
                         type_vocab_size: int = 2) -> int:
    """Parameters of BERT's embedding block: word, position and segment tables, ``(V + P + T) H``, and its
    LayerNorm, ``2H``."""
    return (vocab_size + max_position_embeddings + type_vocab_size) * hidden_size + 2 * hidden_size


def bert_parameter_count(vocab_size: int = 30522, hidden_size: int = 768, num_hidden_layers: int = 12,
                         intermediate_size: int = 3072, max_position_embeddings: int = 512,
                         type_vocab_size: int = 2, pooler: bool = True) -> int:
    """Parameters of a BERT encoder by formula (defaults: BERT-base, ``transformers.BertConfig()``).

    embeddings: (V + P + T) H + 2H (LayerNorm)
    per layer:  4 (H^2 + H) (Q, K, V, O) + 2H (LN) + (H I + I) + (I H + H) (FFN) + 2H (LN)
    pooler:     H^2 + H
    """
    H, I = hidden_size, intermediate_size
    embeddings = bert_embedding_count(vocab_size, H, max_position_embeddings, type_vocab_size)
    layer = 4 * (H * H + H) + 2 * H + (H * I + I) + (I * H + H) + 2 * H
    return embeddings + num_hidden_layers * layer + (H * H + H if pooler else 0)


def attention_cost(seq_lens, batch: int = 1, heads: int = 4, head_dim: int = 64, repeats: int = 3,
                   seed: int = 0) -> list[dict]:
    """Measure time and memory of attention as the sequence grows (the quadratic cost).

    For each length n: median seconds of our ``scaled_dot_product_attention`` (which materialises the
    ``(batch, heads, n, n)`` weights) and of torch's fused ``F.scaled_dot_product_attention``, and the
    bytes of the weights tensor ours allocated (read off the tensor itself). One dict per length.
    """
    from xlrec_lib.timing import time_call

    gen = torch.Generator().manual_seed(seed)
    rows = []
    for n in seq_lens:
        q, k, v = (torch.randn(batch, heads, n, head_dim, generator=gen) for _ in range(3))
        with torch.no_grad():
            weights = attention_weights(q, k)
            rows.append({
                "seq_len": n,
                "ours_s": time_call(lambda q=q, k=k, v=v: scaled_dot_product_attention(q, k, v), repeats),
                "torch_sdpa_s": time_call(
                    lambda q=q, k=k, v=v: nn.functional.scaled_dot_product_attention(q, k, v), repeats),
                "weights_bytes": weights.untyped_storage().nbytes(),
            })
    return rows
