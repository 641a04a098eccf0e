"""The Transformer encoder from scratch, each piece next to its formula.

Shapes: ``batch`` sequences of ``seq`` tokens, model width ``dim``, ``heads`` attention heads of width
``head_dim = dim // heads``. Boolean masks follow one rule everywhere: ``True`` means "may attend".
Every piece here is checked against torch's own implementation in ``tests/test_transformer.py`` and in
the chapter ``notebooks/01_transformer_math.ipynb``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# --- embeddings -------------------------------------------------------------------------------------


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


# --- masks -----------------------------------------------------------------------------------------


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """From a tokenizer's ``(batch, seq)`` 1/0 attention mask to a boolean ``(batch, 1, 1, seq)`` key mask."""
    return attention_mask.bool()[:, None, None, :]


def causal_mask(seq: int, device=None) -> torch.Tensor:
    """``(seq, seq)`` lower-triangular boolean mask: query t may attend to keys 0..t."""
    return torch.ones(seq, seq, dtype=torch.bool, device=device).tril()


# --- attention -------------------------------------------------------------------------------------


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


# --- the rest of an encoder block --------------------------------------------------------------------


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


def encode(blocks, x: torch.Tensor, mask: torch.Tensor | None = None):
    """Run ``(batch, seq, dim)`` through the blocks; returns the last hidden state and every layer's
    attention weights ``(batch, heads, seq, seq)`` in a list."""
    weights = []
    for block in blocks:
        x, w = block(x, mask, need_weights=True)
        weights.append(w)
    return x, weights


# --- the loss ----------------------------------------------------------------------------------------


def logsumexp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log sum_j exp(x_j) = m + log sum_j exp(x_j - m), m = max_j x_j: no overflow for large logits."""
    m = x.amax(dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf rows: keep -inf, avoid inf - inf
    return (m + torch.log(torch.exp(x - m).sum(dim, keepdim=True))).squeeze(dim)


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log softmax(z)_i = z_i - logsumexp(z) = (z_i - m) - log sum_j exp(z_j - m).

    Subtracting m first keeps the result exact for large logits: 1000.69 - 1000.0 in float32 loses digits.
    """
    shifted = logits - logits.amax(dim, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim, keepdim=True))


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean over non-ignored positions of -log softmax(z)[y].

    logits ``(n, classes)``, targets ``(n,)`` of class ids; positions equal to ``ignore_index`` (the
    unmasked tokens of MLM) do not count. Same value as ``F.cross_entropy(logits, targets)``.
    """
    keep = targets != ignore_index
    if not keep.any():
        raise ValueError("cross_entropy: every target equals ignore_index; there is nothing to average")
    logp = log_softmax(logits[keep])
    return -logp.gather(1, targets[keep, None]).mean()


# --- the recurrence attention replaced -----------------------------------------------------------------


class ElmanRNN(nn.Module):
    """h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), the RNN of seed 001, one step at a time.

    ``(batch, seq, dim_in)`` -> all hidden states ``(batch, seq, hidden)``; same as ``nn.RNN(batch_first=True)``.
    """

    def __init__(self, dim_in: int, hidden: int):
        super().__init__()
        self.ih = nn.Linear(dim_in, hidden)
        self.hh = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.hh.in_features)
        states = []
        for t in range(x.shape[1]):  # the sequential dependency attention removes
            h = torch.tanh(self.ih(x[:, t]) + self.hh(h))
            states.append(h)
        return torch.stack(states, dim=1)

    @torch.no_grad()
    def load_from_torch(self, rnn: nn.RNN) -> ElmanRNN:
        self.ih.weight.copy_(rnn.weight_ih_l0)
        self.ih.bias.copy_(rnn.bias_ih_l0)
        self.hh.weight.copy_(rnn.weight_hh_l0)
        self.hh.bias.copy_(rnn.bias_hh_l0)
        return self


def input_influence(model: nn.Module, x: torch.Tensor, position: int) -> torch.Tensor:
    """How much the output at ``position`` depends on each input: ``||d out[position] / d x_t||`` for every t.

    ``model`` maps ``(1, seq, dim)`` to ``(1, seq, dim_out)``; returns ``(seq,)``. For an RNN this decays with
    distance and is zero for t > position; for (unmasked) self-attention every position is one step away.
    """
    x = x.detach().clone().requires_grad_(True)
    jac = torch.autograd.functional.jacobian(lambda inp: model(inp)[0, position], x)  # (dim_out, 1, seq, dim)
    return jac.pow(2).sum(dim=(0, 1, 3)).sqrt()


# --- counting and cost -------------------------------------------------------------------------------


def bert_parameter_count(vocab_size: int = 30522, hidden_size: int = 768, num_hidden_layers: int = 12,
                         intermediate_size: int = 3072, max_position_embeddings: int = 512,
                         type_vocab_size: int = 2, pooler: bool = True) -> int:
    """Parameters of a BERT encoder by formula (defaults: BERT-base, ``transformers.BertConfig()``).

    embeddings: (V + P + T) H + 2H (LayerNorm)
    per layer:  4 (H^2 + H) (Q, K, V, O) + 2H (LN) + (H I + I) + (I H + H) (FFN) + 2H (LN)
    pooler:     H^2 + H
    """
    H, I = hidden_size, intermediate_size
    embeddings = (vocab_size + max_position_embeddings + type_vocab_size) * H + 2 * H
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
