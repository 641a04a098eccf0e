"""Fine-tune only the top of a pretrained encoder: the lower layers run once, their output is kept, the top
layers train.

A BERT's layer ``l`` sees only layer ``l - 1``'s token vectors and the attention mask. So with the lower layers
frozen, their output for a fixed set of texts (a catalogue's item descriptions) never changes: ``lower_states``
computes it once, and ``TopLayers`` (trainable copies of the top ``n_top`` layers, then mean pooling and unit
length) maps it to sentence vectors inside a training step for the cost of ``n_top`` layers, not the whole
model. With the copies untouched, ``TopLayers(lower_states(...))`` is the encoder's own mean-pooled output (the
chapter checks it).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from tqdm.auto import tqdm

from xlrec_lib.encoders.pooling import mean_pool


def check_n_top(model, n_top: int) -> int:
    """The model's number of layers, if ``1 <= n_top <= layers``; else a ``ValueError``."""
    layers = model.config.num_hidden_layers
    if isinstance(n_top, bool) or not isinstance(n_top, int) or not 1 <= n_top <= layers:
        raise ValueError(f"n_top must be an integer between 1 and the model's {layers} layers, got {n_top!r}")
    return layers


@torch.no_grad()
def lower_states(model, tokenizer, texts: list[str], n_top: int = 1, batch_size: int = 64, max_length: int = 128,
                 progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(states (n, seq, dim), mask (n, seq))``: the token vectors entering the top ``n_top`` layers of ``model``
    (a ``transformers`` BERT-like encoder) for every text, padded to the longest text, float32 on the CPU. The
    default ``max_length`` is ``minilm_encoder``'s, so that the top layers reproduce its vectors."""
    layers = check_n_top(model, n_top)
    texts = list(texts)
    enc = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in tqdm(range(0, len(texts), batch_size), desc="lower layers", disable=not progress):
        ids = enc["input_ids"][start:start + batch_size].to(device)
        mask = enc["attention_mask"][start:start + batch_size].to(device)
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        chunks.append(out.hidden_states[layers - n_top].float().cpu())
    model.train(was_training)
    return torch.cat(chunks), enc["attention_mask"]


class TopLayers(nn.Module):
    """Trainable copies of the top ``n_top`` layers of ``model``; ``forward(states, mask) -> (n, dim)`` unit rows."""

    def __init__(self, model, n_top: int = 1):
        super().__init__()
        check_n_top(model, n_top)
        self.layers = nn.ModuleList(copy.deepcopy(layer) for layer in model.encoder.layer[-n_top:])

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # additive mask, (batch, 1, 1, seq): 0 for real tokens, a large negative number for padding
        extended = (1.0 - mask[:, None, None, :].to(states.dtype)) * torch.finfo(states.dtype).min
        hidden = states
        for layer in self.layers:
            out = layer(hidden, attention_mask=extended)
            hidden = out[0] if isinstance(out, tuple) else out  # transformers 4 returns a tuple, 5 a tensor
        return nn.functional.normalize(mean_pool(hidden, mask), dim=-1)


__all__ = ["check_n_top", "lower_states", "TopLayers"]
