"""The recurrent network attention replaced: an Elman RNN and how far back its output still feels an input.
"""

from __future__ import annotations

import torch
from torch import nn


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
