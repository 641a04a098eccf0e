"""Making a fine-tuned encoder smaller: magnitude pruning, attention-head pruning, dynamic int8 quantization, and the
size of a checkpoint.

Global magnitude pruning zeroes the ``s`` share of smallest weights (by magnitude) among all the linear weights
together (not the same share in every layer: layers whose weights are small lose more). The tensors keep their
shape: the zeros are stored and multiplied like any other number, so a dense CPU kernel gains no speed and a dense
checkpoint no bytes from them; only a sparse format or sparse kernels would. Head pruning removes whole rows and
columns, so the matrices really shrink: fewer parameters, fewer FLOPs.

Dynamic int8 quantization (``quantize_dynamic_int8``) stores each linear weight as int8 with one float scale per
tensor and quantizes the activations on the fly, per batch; the matrix products run in int8 (fbgemm on x86).
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable, Mapping

import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune
from transformers import BertModel
from transformers.pytorch_utils import prune_linear_layer

# --- magnitude pruning -------------------------------------------------------------------------------------------


def linear_weights(module: nn.Module) -> list[tuple[nn.Linear, str]]:
    """``(layer, "weight")`` for every ``nn.Linear`` inside ``module``: what ``magnitude_prune`` prunes and
    ``sparsity`` measures (biases, embeddings and LayerNorms are left alone)."""
    return [(m, "weight") for m in module.modules() if isinstance(m, nn.Linear)]


def magnitude_prune(module: nn.Module, sparsity: float) -> nn.Module:
    """Zero, in place and for good, the ``sparsity`` share of smallest-magnitude weights among all the ``nn.Linear``
    weights of ``module`` taken together (``prune.global_unstructured`` with L1 magnitude, then ``prune.remove``, so
    that no mask or ``weight_orig`` stays behind). Pass an encoder (``model.bert``) to spare a classifier head.

    Weights already zero count as the smallest, so pruning again to a higher share tops the zeros up to it:
    ``round(sparsity * n)`` of the n weights are zero afterwards (if no more than that were zero before).
    """
    if not 0 <= sparsity <= 1:
        raise ValueError(f"magnitude_prune: sparsity must lie in [0, 1], got {sparsity!r}")
    params = linear_weights(module)
    if not params:
        raise ValueError(f"magnitude_prune: {type(module).__name__} has no nn.Linear layer to prune")
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=float(sparsity))
    for layer, name in params:
        prune.remove(layer, name)
    return module


def sparsity(module: nn.Module) -> float:
    """The share of exact zeros among the ``nn.Linear`` weights of ``module`` (0 for a dense trained model)."""
    params = linear_weights(module)
    if not params:
        raise ValueError(f"sparsity: {type(module).__name__} has no nn.Linear layer")
    zeros = sum(int((layer.weight == 0).sum()) for layer, _ in params)
    return zeros / sum(layer.weight.numel() for layer, _ in params)


# --- attention-head pruning --------------------------------------------------------------------------------------


def _bert(model: nn.Module) -> BertModel:
    base = model if isinstance(model, BertModel) else getattr(model, "bert", getattr(model, "base_model", None))
    if not isinstance(base, BertModel):
        raise ValueError(f"head pruning needs a BertModel (or a model whose .bert is one), got {type(model).__name__}")
    return base


def head_importance(model: nn.Module) -> torch.Tensor:
    """``(layers, heads)`` importance of every attention head: the L2 (Frobenius) norm of its slice of the output
    projection, ``W_O[:, h d:(h + 1) d]`` (``attention.output.dense``, ``d`` = head size).

    Why this criterion: head h reaches the rest of the network only through those d columns, which map its context
    vectors into the residual stream; a head whose slice is small writes little there. It needs no data (unlike the
    gradient-based importance of Michel et al., 2019), but it ignores how large the head's context vectors are.
    With heads already pruned, layers have fewer heads; the missing entries are ``inf`` (never chosen again).
    """
    bert = _bert(model)
    counts = [layer.attention.self.num_attention_heads for layer in bert.encoder.layer]
    scores = torch.full((len(counts), bert.config.num_attention_heads), float("inf"))
    for i, layer in enumerate(bert.encoder.layer):
        d = layer.attention.self.attention_head_size
        w = layer.attention.output.dense.weight.detach()  # (hidden, heads * d)
        scores[i, : counts[i]] = w.reshape(w.shape[0], counts[i], d).norm(dim=(0, 2)).cpu()
    return scores


def prune_heads(model: nn.Module, heads: Mapping[int, Iterable[int]]) -> nn.Module:
    """Remove, in place, attention heads ``{layer: [head, ...]}`` (head numbers as the layer has them now) from a
    BERT: the heads' rows of ``query``, ``key``, ``value`` and columns of ``attention.output.dense`` go
    (``transformers.pytorch_utils.prune_linear_layer``). Each pruned head removes ``head_parameter_count`` parameters.

    transformers 5 dropped ``PreTrainedModel.prune_heads`` (and re-pruning on load), so this is done here, and a
    pruned model does not reload with ``from_pretrained`` (its config still says the full head count); measure and
    use it in memory. A layer may not lose all its heads.
    """
    bert = _bert(model)
    layers = bert.encoder.layer
    for i, chosen in heads.items():
        chosen = sorted(set(int(h) for h in chosen))
        if not 0 <= i < len(layers):
            raise ValueError(f"prune_heads: layer {i} does not exist (the model has {len(layers)})")
        attn = layers[i].attention.self
        n, d = attn.num_attention_heads, attn.attention_head_size
        if any(not 0 <= h < n for h in chosen):
            raise ValueError(f"prune_heads: layer {i} has heads 0..{n - 1}, asked to prune {chosen}")
        if len(chosen) == n:
            raise ValueError(f"prune_heads: pruning all {n} heads of layer {i} would leave it no attention")
        if not chosen:
            continue
        keep = torch.tensor([h * d + j for h in range(n) if h not in chosen for j in range(d)], dtype=torch.long)
        for name in ("query", "key", "value"):
            setattr(attn, name, prune_linear_layer(getattr(attn, name), keep, dim=0))
        out = layers[i].attention.output
        out.dense = prune_linear_layer(out.dense, keep, dim=1)
        attn.num_attention_heads = n - len(chosen)
        attn.all_head_size = attn.num_attention_heads * d
    return model


def prune_smallest_heads(model: nn.Module, n: int) -> dict[int, list[int]]:
    """Prune, in place, the ``n`` heads of lowest ``head_importance`` over all layers (each layer keeps at least
    one head: a layer's last head is never chosen). Returns ``{layer: [heads]}`` as numbered before pruning."""
    scores = head_importance(model)
    left = torch.isfinite(scores).sum(1)  # heads each layer has
    if not 0 <= n <= int((left - 1).sum()):
        raise ValueError(f"prune_smallest_heads: n must lie in 0..{int((left - 1).sum())} (every layer keeps one "
                         f"head), got {n}")
    chosen: dict[int, list[int]] = {}
    for flat in torch.argsort(scores.flatten(), stable=True).tolist():
        if sum(len(v) for v in chosen.values()) == n:
            break
        i, h = divmod(flat, scores.shape[1])
        if len(chosen.get(i, [])) < int(left[i]) - 1:
            chosen.setdefault(i, []).append(h)
    prune_heads(model, chosen)
    return {i: sorted(v) for i, v in sorted(chosen.items())}


def head_parameter_count(hidden_size: int, head_size: int) -> int:
    """Parameters one attention head holds: d rows (weights and biases) of query, key and value, and d columns of
    the output projection: 3 (h d + d) + h d = 4 h d + 3 d."""
    return 4 * hidden_size * head_size + 3 * head_size


def pruning_sweep(model: nn.Module, sparsities, evaluate, part: str = "bert") -> pd.DataFrame:
    """``evaluate(pruned) -> dict`` of a copy of ``model`` whose ``part`` (the encoder: the head is spared) is
    magnitude-pruned to each share of ``sparsities``; one row per share, with the sparsity reached and the
    checkpoint MB. ``model`` is not changed."""
    rows = []
    for share in sparsities:
        pruned = copy.deepcopy(model)
        magnitude_prune(pruned.get_submodule(part), share)
        rows.append({"sparsity": share, "reached": sparsity(pruned.get_submodule(part)), **evaluate(pruned),
                     "checkpoint_mb": state_dict_megabytes(pruned)})
    return pd.DataFrame(rows).set_index("sparsity")


def head_pruning_sweep(model: nn.Module, counts, evaluate) -> tuple[pd.DataFrame, dict[int, nn.Module]]:
    """``evaluate(pruned) -> dict`` of copies of ``model`` with the ``n`` least important heads removed, for each
    ``n`` of ``counts`` (``prune_smallest_heads``); returns one row per ``n`` (heads removed of all, encoder-layer
    parameters, checkpoint MB) and the pruned models by ``n``. ``model`` is not changed."""
    rows, models = [], {}
    total = int(torch.isfinite(head_importance(model)).sum())
    for n in counts:
        pruned = copy.deepcopy(model)
        prune_smallest_heads(pruned, n)
        models[n] = pruned
        rows.append({"heads removed": f"{n} of {total}", **evaluate(pruned),
                     "encoder layer parameters": sum(p.numel() for p in _bert(pruned).encoder.parameters()),
                     "checkpoint_mb": state_dict_megabytes(pruned)})
    return pd.DataFrame(rows).set_index("heads removed"), models


# --- quantization and size ---------------------------------------------------------------------------------------


def quantize_dynamic_int8(model: nn.Module, inplace: bool = False, embeddings: bool = False) -> nn.Module:
    """Dynamic int8 quantization of every ``nn.Linear`` (a copy unless ``inplace``), for CPU inference: int8
    weights, one scale per tensor, activations quantized per batch (``torch.ao.quantization.quantize_dynamic``).

    ``embeddings=True`` also stores every ``*word_embeddings`` table in 8 bits, weight-only, with a float scale and
    offset per row (``float_qparams_weight_only_qconfig``): a lookup needs no arithmetic, so only the size changes,
    and in a small BERT the word embeddings are most of the weights (the linear layers alone leave the checkpoint
    far from 4x smaller). The position and token-type tables are small and stay float32 (torch's quantized
    embedding also refuses the non-contiguous index tensors BERT feeds them).

    Deprecation, stated rather than hidden: in torch 2.13 this API still runs but warns ``torch.ao.quantization is
    deprecated ... please migrate to use torchao eager mode quantize_ API`` (a ``DeprecationWarning``) and, for the
    qint8 weight tensors, a ``UserWarning`` that quantized tensor creation is deprecated. The warnings are left to
    show. The successor, ``torchao.quantization.quantize_(model, Int8DynamicActivationInt8WeightConfig())``
    (torchao 0.18), is not used: on a CPU it ran in eager mode but about 30x slower than float32 (a 384-1536-384
    MLP on 1024 tokens, one thread: 1166 ms against 39 ms float32 and 23 ms for this API), with no CPU int8 kernel
    behind it; and torchao is not a course requirement. Merge LoRA adapters into their base layers first
    (``lora.merge_lora``): otherwise the base, A and B are quantized as three separate layers.
    """
    from torch.ao.quantization import default_dynamic_qconfig, float_qparams_weight_only_qconfig

    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ValueError(f"quantize_dynamic_int8: int8 kernels run on the CPU; the model is on {device}. Quantize "
                         "a CPU copy: quantize_dynamic_int8(copy.deepcopy(model).cpu())")

    spec: dict = {nn.Linear: default_dynamic_qconfig}
    if embeddings:
        tables = [n for n, m in model.named_modules() if isinstance(m, nn.Embedding) and n.endswith("word_embeddings")]
        if not tables:
            raise ValueError(f"quantize_dynamic_int8: {type(model).__name__} has no nn.Embedding named "
                             "*word_embeddings to quantize; pass embeddings=False")
        spec.update({n: float_qparams_weight_only_qconfig for n in tables})
    return torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8, inplace=inplace)


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())`` written to memory (no file): the checkpoint size. Int8 layers'
    packed weights are included (their state dict holds int8 tensors and float scales, types that
    ``torch.load(..., weights_only=True)`` accepts). Zeros of an unstructured-pruned model are stored as any other
    weight, so pruning alone does not shrink it."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def state_dict_megabytes(model: nn.Module) -> float:
    """``state_dict_bytes`` in MB of 2**20 bytes (MiB: BERT-base's 110M float32 weights are ~418 of them)."""
    return state_dict_bytes(model) / 2**20
