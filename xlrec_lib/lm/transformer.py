"""The Transformer encoder from scratch, each piece next to its formula.

Shapes: ``batch`` sequences of ``seq`` tokens, model width ``dim``, ``heads`` attention heads of width
``head_dim = dim // heads``. Boolean masks follow one rule everywhere: ``True`` means "may attend".
Every piece here is checked against torch's own implementation in ``tests/lm/test_transformer.py`` and in
the chapter ``notebooks/01_transformer_math.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def sinusoidal_positions(seq: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Fixed position codes of "Attention Is All You Need", shape ``(seq, dim)``.

    PE[p, 2i] = sin(p / base^(2i/dim)),  PE[p, 2i+1] = cos(p / base^(2i/dim)).
    """
    if dim % 2:
        raise ValueError(f"dim must be even for sin/cos pairs, got {dim}")
    pos = torch.arange(seq, dtype=torch.float32)[:, None]  # (seq, 1)
    freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (dim/2,)
    pe = torch.empty(seq, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


class Embeddings(nn.Module):
    """x_i = Embed(w_i) * sqrt(dim) + PE[i]: token ids ``(batch, seq)`` to vectors ``(batch, seq, dim)``."""

    def __init__(self, vocab: int, dim: int, max_len: int = 512):
        super().__init__()
        self.dim = dim
        self.tokens = nn.Embedding(vocab, dim)
        nn.init.normal_(self.tokens.weight, std=dim**-0.5)  # as when shared with the output layer
        self.register_buffer("positions", sinusoidal_positions(max_len, dim), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        seq = ids.shape[1]
        if seq > self.positions.shape[0]:
            raise ValueError(f"sequence of {seq} tokens exceeds max_len={self.positions.shape[0]}")
        # token entries start with std 1/sqrt(dim); times sqrt(dim) they have std 1, the scale of PE's [-1, 1]
        return self.tokens(ids) * math.sqrt(self.dim) + self.positions[:seq]


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """From a tokenizer's ``(batch, seq)`` 1/0 attention mask to a boolean ``(batch, 1, 1, seq)`` key mask."""
    return attention_mask.bool()[:, None, None, :]


def causal_mask(seq: int, device=None) -> torch.Tensor:
    """``(seq, seq)`` lower-triangular boolean mask: query t may attend to keys 0..t."""
    return torch.ones(seq, seq, dtype=torch.bool, device=device).tril()


def attention_weights(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d_k)) with masked keys removed: ``(..., seq_q, seq_k)``.

    ``mask`` broadcasts to ``(..., seq_q, seq_k)``; True = attend. A query with no key to attend to
    (a fully masked row) gets all-zero weights instead of the NaN that softmax over -inf would give.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.nan_to_num(0.0)
    return weights


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V.

    q: ``(batch, heads, seq_q, dim)``, k and v: ``(batch, heads, seq_k, dim)``, boolean mask broadcastable
    to ``(batch, heads, seq_q, seq_k)`` with True = attend. Returns ``(batch, heads, seq_q, dim)``; same
    contract as ``torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)``.
    """
    return attention_weights(q, k, mask) @ v


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(batch, seq, dim)`` -> ``(batch, heads, seq, dim // heads)``."""
    batch, seq, dim = x.shape
    return x.view(batch, seq, heads, dim // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(batch, heads, seq, head_dim)`` -> ``(batch, seq, heads * head_dim)``."""
    batch, heads, seq, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, seq, heads * head_dim)


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = Concat(head_1..head_h) W_O,  head_j = Attention(Q W_Q^j, K W_K^j, V W_V^j).

    Inputs ``(batch, seq, dim)``; ``mask`` broadcastable to ``(batch, heads, seq_q, seq_k)``, True = attend.
    After ``forward(..., need_weights=True)`` the per-head weights ``(batch, heads, seq_q, seq_k)``
    are returned as a second value (for plots).
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}")
        self.dim, self.heads = dim, heads
        self.q_proj = nn.Linear(dim, dim, bias=bias)
        self.k_proj = nn.Linear(dim, dim, bias=bias)
        self.v_proj = nn.Linear(dim, dim, bias=bias)
        self.out_proj = nn.Linear(dim, dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, key=None, value=None, mask=None, need_weights: bool = False):
        key = query if key is None else key
        value = key if value is None else value
        q = split_heads(self.q_proj(query), self.heads)
        k = split_heads(self.k_proj(key), self.heads)
        v = split_heads(self.v_proj(value), self.heads)
        weights = attention_weights(q, k, mask)
        out = self.out_proj(merge_heads(self.dropout(weights) @ v))
        return (out, weights) if need_weights else out

    @torch.no_grad()
    def load_from_torch(self, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a ``torch.nn.MultiheadAttention`` (one packed in_proj) into ours."""
        if mha.embed_dim != self.dim or mha.num_heads != self.heads:
            raise ValueError(f"shape mismatch: torch (dim, heads) = ({mha.embed_dim}, {mha.num_heads}), "
                             f"ours = ({self.dim}, {self.heads})")
        for proj, w, b in zip((self.q_proj, self.k_proj, self.v_proj), mha.in_proj_weight.chunk(3),
                              mha.in_proj_bias.chunk(3), strict=True):
            proj.weight.copy_(w)
            proj.bias.copy_(b)
        self.out_proj.load_state_dict(mha.out_proj.state_dict())
        return self


class LayerNorm(nn.Module):
    """LN(x) = gamma * (x - mean) / sqrt(var + eps) + beta over the last axis (biased variance, like torch)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, unbiased=False, keepdim=True)
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU(x) = x * Phi(x) = x/2 * (1 + erf(x / sqrt(2))), the exact form BERT uses."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class FeedForward(nn.Module):
    """FFN(x) = GELU(x W_1 + b_1) W_2 + b_2, applied to each position: ``(batch, seq, dim)``."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden)
        self.linear2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(gelu(self.linear1(x))))


class EncoderBlock(nn.Module):
    """One post-norm encoder block, as in BERT and ``nn.TransformerEncoderLayer(norm_first=False)``:

        h = LN(x + Dropout(MHA(x)));   out = LN(h + Dropout(FFN(h)))

    ``(batch, seq, dim)`` in and out; ``mask`` as in ``MultiHeadAttention``.
    """

    def __init__(self, dim: int, heads: int, hidden: int, dropout: float = 0.0, eps: float = 1e-5):
        super().__init__()
        self.attn = MultiHeadAttention(dim, heads, dropout)
        self.norm1 = LayerNorm(dim, eps)
        self.ffn = FeedForward(dim, hidden, dropout)
        self.norm2 = LayerNorm(dim, eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, need_weights: bool = False):
        a, weights = self.attn(x, mask=mask, need_weights=True)
        h = self.norm1(x + self.dropout(a))
        out = self.norm2(h + self.dropout(self.ffn(h)))
        return (out, weights) if need_weights else out

    @torch.no_grad()
    def load_from_torch(self, layer: nn.TransformerEncoderLayer) -> EncoderBlock:
        """Copy the weights of a post-norm, GELU ``nn.TransformerEncoderLayer`` into this block."""
        if layer.norm_first:
            raise ValueError("EncoderBlock is post-norm; got a TransformerEncoderLayer with norm_first=True")
        self.attn.load_from_torch(layer.self_attn)
        self.ffn.linear1.load_state_dict(layer.linear1.state_dict())
        self.ffn.linear2.load_state_dict(layer.linear2.state_dict())
        self.norm1.load_state_dict(layer.norm1.state_dict())
        self.norm2.load_state_dict(layer.norm2.state_dict())
        self.norm1.eps, self.norm2.eps = layer.norm1.eps, layer.norm2.eps
        return self

    @torch.no_grad()
    def load_from_bert_layer(self, layer: nn.Module) -> EncoderBlock:
        """Copy one ``transformers`` ``BertLayer`` (query/key/value/dense + LayerNorms) into this block."""
        att = layer.attention
        for ours, theirs in ((self.attn.q_proj, att.self.query), (self.attn.k_proj, att.self.key),
                             (self.attn.v_proj, att.self.value), (self.attn.out_proj, att.output.dense),
                             (self.ffn.linear1, layer.intermediate.dense), (self.ffn.linear2, layer.output.dense)):
            ours.load_state_dict(theirs.state_dict())
        self.norm1.load_state_dict(att.output.LayerNorm.state_dict())
        self.norm2.load_state_dict(layer.output.LayerNorm.state_dict())
        self.norm1.eps, self.norm2.eps = att.output.LayerNorm.eps, layer.output.LayerNorm.eps
        return self


def blocks_from_bert(model: nn.Module) -> nn.ModuleList:
    """Our ``EncoderBlock``s carrying the weights of every layer of a ``transformers`` ``BertModel``."""
    cfg = model.config
    if cfg.hidden_act != "gelu":
        raise ValueError(f"EncoderBlock uses exact GELU; this model's hidden_act is {cfg.hidden_act!r}")
    return nn.ModuleList(
        EncoderBlock(cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size, eps=cfg.layer_norm_eps)
        .load_from_bert_layer(layer).eval()
        for layer in model.encoder.layer
    )


def run_blocks(blocks, x: torch.Tensor, mask: torch.Tensor | None = None):
    """Run ``(batch, seq, dim)`` through the blocks; returns the last hidden state and every layer's
    attention weights ``(batch, heads, seq, seq)`` in a list."""
    weights = []
    for block in blocks:
        x, w = block(x, mask, need_weights=True)
        weights.append(w)
    return x, weights


ATTENTION_HABITS = ("previous token", "same token", "next token", "[CLS] or [SEP]")


def attention_habits(weights: torch.Tensor, special: Sequence[int]) -> torch.Tensor:
    """``(heads, 4)``: what each head of one sentence's attention ``(heads, seq, seq)`` looks at, in the order of
    ``ATTENTION_HABITS`` (the patterns of Clark et al., 2019, "What does BERT look at?"): the mean weight a word puts
    on the token before it, on itself, on the token after it, and on the ``special`` positions together. The
    queries are the positions not in ``special``, so pass one sentence without padding (or its padded positions
    in ``special``); the columns can overlap (the token before the first word is ``[CLS]``)."""
    if weights.dim() != 3 or weights.shape[1] != weights.shape[2]:
        raise ValueError(f"attention_habits: expected weights (heads, seq, seq), got {tuple(weights.shape)}")
    seq = weights.shape[1]
    special = sorted(set(int(i) for i in special))
    if any(not 0 <= i < seq for i in special):
        raise ValueError(f"attention_habits: special positions {special} outside 0..{seq - 1}")
    queries = torch.tensor([i for i in range(seq) if i not in special], dtype=torch.long)
    if len(queries) == 0:
        raise ValueError("attention_habits: every position is special; no word to read")
    before, after = queries[queries > 0], queries[queries < seq - 1]
    # a one-word sentence has no neighbour
    nan = torch.full(weights.shape[:1], float("nan"), dtype=weights.dtype, device=weights.device)
    return torch.stack([
        weights[:, before, before - 1].mean(-1) if len(before) else nan,
        weights[:, queries, queries].mean(-1),
        weights[:, after, after + 1].mean(-1) if len(after) else nan,
        weights[:, queries][:, :, special].sum(-1).mean(-1),
    ], dim=1)
