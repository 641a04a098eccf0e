"""LoRA, low-rank adaptation (Hu et al., 2021), written from scratch for the layers of a BERT-style encoder.

A frozen linear layer ``y = x W^T + b`` (``W``: ``(out, in)``) learns only a low-rank update of its weight::

    W' = W + (alpha / r) B A          A: (r, in), B: (out, r), r << min(in, out)
    y  = x W^T + b + (alpha / r) (dropout(x) A^T) B^T

``A`` starts random (``nn.Linear``'s own Kaiming-uniform init, as ``peft``), ``B`` at zero, so at the start the
wrapped layer computes exactly what the base layer did and training moves away from the pretrained function
smoothly. Per wrapped layer LoRA trains ``r (in + out)`` numbers instead of ``in * out + out``.
``scaling = alpha / r`` keeps the size of the update roughly independent of r: doubling r with alpha fixed halves
each rank's weight, so a learning rate tuned for one rank carries over to another.

``merge()`` folds ``(alpha / r) B A`` into ``W`` after training: the layer is then one plain matrix product again,
with no extra latency at inference (the adapter path is skipped). ``unmerge()`` subtracts it back (the base weight
is restored up to float rounding, ~1e-7 in float32).

    >>> names = apply_lora(model, r=8, alpha=16, target_modules=("query", "value"),
    ...                    trainable=("classifier",))  # doctest: +SKIP
    >>> count, share = trainable_parameters(model)  # doctest: +SKIP

The modules are shaped as ``peft``'s (``lora_A``: ``nn.Linear(in, r, bias=False)``, ``lora_B``:
``nn.Linear(r, out, bias=False)``), and the tests check that the output equals ``peft``'s on the same weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn


class LoRALinear(nn.Module):
    """``base(x) + lora_B(lora_A(dropout(x))) * scaling``: a frozen ``nn.Linear`` plus a trainable rank-``r`` update.

    ``base``: the ``nn.Linear`` (in -> out) to adapt; its parameters are frozen (``requires_grad`` False).
    ``r``: the rank (an integer >= 1); ``alpha``: > 0, ``scaling = alpha / r``; ``dropout``: in [0, 1), applied to
    the adapter's input only. Input ``(..., in)``, output ``(..., out)``.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear) or isinstance(base, LoRALinear):
            raise ValueError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"LoRA rank r must be an integer >= 1, got {r!r}")
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"LoRA alpha must be a finite number > 0, got {alpha!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"LoRA dropout must lie in [0, 1), got {dropout!r}")
        self.base = base.requires_grad_(False)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Linear(base.in_features, r, bias=False, **factory)  # A: (r, in), Kaiming-uniform init
        self.lora_B = nn.Linear(r, base.out_features, bias=False, **factory)  # B: (out, r)
        nn.init.zeros_(self.lora_B.weight)
        self.merged = False

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """``(alpha / r) B A``: the ``(out, in)`` update that ``merge`` adds to the base weight."""
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:  # the update already lives in base.weight
            return out
        return out + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """W <- W + (alpha / r) B A; forward then runs the base layer alone (for inference: A and B get no gradient
        while merged)."""
        if self.merged:
            raise ValueError("merge: this LoRALinear is already merged")
        self.base.weight += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W <- W - (alpha / r) B A: the base weight back (up to float rounding), the adapter path active again."""
        if not self.merged:
            raise ValueError("unmerge: this LoRALinear is not merged")
        self.base.weight -= self.delta_weight()
        self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}, merged={self.merged}"


def _matches(name: str, patterns: Sequence[str]) -> bool:
    """``peft``'s rule: a module matches a pattern equal to its full dotted name or to a suffix of whole parts."""
    return any(name == p or name.endswith("." + p) for p in patterns)


def apply_lora(model: nn.Module, r: int, alpha: float, dropout: float = 0.0,
               target_modules: Sequence[str] = ("query", "value"), trainable: Sequence[str] = ()) -> list[str]:
    """Wrap, in place, every ``nn.Linear`` of ``model`` whose name ends in one of ``target_modules`` (whole dotted
    parts, as ``peft``: ``"query"`` matches ``bert.encoder.layer.0.attention.self.query``) in a ``LoRALinear``.

    Every parameter of the model is frozen except the adapters' A and B and the parameters of the modules named by
    ``trainable`` (same matching; e.g. ``("classifier",)``, the new head that must learn from scratch). Returns the
    names of the wrapped layers. A target or ``trainable`` name that matches nothing, or a model that already has
    LoRA layers, is a ``ValueError``.
    """
    if isinstance(target_modules, str) or isinstance(trainable, str):
        raise ValueError("apply_lora: target_modules and trainable are sequences of names, e.g. ('query', 'value')")
    if any(isinstance(m, LoRALinear) for m in model.modules()):
        raise ValueError("apply_lora: the model already has LoRA layers (merge and rebuild it instead)")
    if not target_modules:
        raise ValueError("apply_lora: target_modules is empty")
    named = dict(model.named_modules())
    linear = [n for n, m in named.items() if isinstance(m, nn.Linear)]
    missing = [p for p in target_modules if not any(_matches(n, [p]) for n in linear)]
    if missing:
        raise ValueError(f"apply_lora: no nn.Linear of {type(model).__name__} is named {missing} "
                         f"(its linear layers end in {sorted({n.rsplit('.', 1)[-1] for n in linear})})")
    kept = [p for p in trainable if not any(_matches(n, [p]) for n in named)]
    if kept:
        raise ValueError(f"apply_lora: trainable names {kept} match no module of {type(model).__name__}")
    model.requires_grad_(False)
    wrapped = [n for n in linear if _matches(n, target_modules)]
    for name in wrapped:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(named[name], r, alpha, dropout))
    for name, module in model.named_modules():
        if _matches(name, trainable):
            module.requires_grad_(True)
    return wrapped


def lora_layers(model: nn.Module) -> list[LoRALinear]:
    """Every ``LoRALinear`` of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


def merge_lora(model: nn.Module) -> int:
    """``merge()`` every LoRA layer of ``model``; returns how many."""
    layers = lora_layers(model)
    for layer in layers:
        layer.merge()
    return len(layers)


def unmerge_lora(model: nn.Module) -> int:
    """``unmerge()`` every LoRA layer of ``model``; returns how many."""
    layers = lora_layers(model)
    for layer in layers:
        layer.unmerge()
    return len(layers)


def randomise_lora_b(model: nn.Module, std: float = 0.1, seed: int = 0) -> int:
    """Fill every LoRA ``B`` matrix of ``model`` (ours or ``peft``'s: parameters whose name holds ``lora_B``) with
    normal noise of ``std``, in place; returns how many. B starts at zero, where every LoRA model computes its base
    model's function: a comparison of two implementations must give B a value first to test the update."""
    g = torch.Generator().manual_seed(seed)
    count = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(std * torch.randn(p.shape, generator=g))
                count += 1
    if not count:
        raise ValueError(f"randomise_lora_b: {type(model).__name__} has no lora_B parameter")
    return count


def copy_peft_lora(ours: nn.Module, peft_model: nn.Module, adapter: str = "default") -> int:
    """Copy ``peft``'s A and B of every layer (state keys ``...<name>.lora_A.<adapter>.weight``) into the
    ``LoRALinear`` of the same name in ``ours`` (built by ``apply_lora`` on a copy of the same base model): the two
    then compute the same function, which is how the tests and chapter 6 compare them. Returns how many matrices
    were copied; a layer with no peft counterpart is a ``ValueError``."""
    peft_state = peft_model.state_dict()
    copied = 0
    with torch.no_grad():
        for name, module in ours.named_modules():
            if not isinstance(module, LoRALinear):
                continue
            for part in ("lora_A", "lora_B"):
                keys = [k for k in peft_state if k.endswith(f"{name}.{part}.{adapter}.weight")]
                if len(keys) != 1:
                    raise ValueError(f"copy_peft_lora: peft model has {len(keys)} tensors for {name}.{part} "
                                     f"(adapter {adapter!r}); wrap the same layers in both models")
                getattr(module, part).weight.copy_(peft_state[keys[0]])
                copied += 1
    return copied


def trainable_parameters(model: nn.Module) -> tuple[int, float]:
    """``(count, share)``: the number of parameters with ``requires_grad`` and their share of all parameters
    (the adapters included in the total, as ``peft``'s ``print_trainable_parameters``)."""
    total = sum(p.numel() for p in model.parameters())
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return count, (count / total if total else 0.0)


def lora_parameter_count(shapes: Iterable[tuple[int, int]], r: int) -> int:
    """The formula: LoRA on layers of ``(in, out)`` ``shapes`` at rank ``r`` trains sum r (in + out) numbers
    (A: r x in, B: out x r). For ``query`` and ``value`` of an L-layer BERT of width h: 2 L r (h + h) = 4 L r h."""
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"LoRA rank r must be an integer >= 1, got {r!r}")
    return sum(r * (n_in + n_out) for n_in, n_out in shapes)
