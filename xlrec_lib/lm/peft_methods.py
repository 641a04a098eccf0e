"""``peft``'s parameter-efficient methods on the course's classifier: LoRA, AdaLoRA and IA3, configured in one
place so that every chapter row trains the same layers.

- **LoRA**: a low-rank update ``(alpha / r) B A`` beside the frozen ``query`` and ``value`` weights (the course's
  own ``lm.lora`` writes it from scratch and is checked equal to this one).
- **AdaLoRA** (Zhang et al., 2023): LoRA in SVD form ``P diag(lambda) Q`` that starts at rank ``init_r`` and,
  between ``tinit`` and ``total_steps - tfinal``, prunes the singular values of lowest importance until the layers
  hold ``target_r`` per layer on average: the rank goes where it helps most. Its pruning reads the gradients after
  each optimizer step (``adalora_after_step``), and its loss adds an orthogonality penalty on P and Q, applied by
  ``peft`` to the model's own loss (``labels_loss_fn``).
- **IA3** (Liu et al., 2022): learned vectors that rescale the keys, the values and the feed-forward activations,
  elementwise: ``l * (x W^T)``. No rank to choose; the fewest parameters of the three.

The head (``classifier``) is new and trains in full in every method (``modules_to_save``).
"""

from __future__ import annotations

from collections.abc import Sequence

from xlrec_lib.lm.fine_tuning import predicted_labels

METHODS = ("lora", "adalora", "ia3")
TARGETS = ("query", "value")  # LoRA and AdaLoRA, as the LoRA paper on attention
IA3_TARGETS = ("key", "value", "output.dense")  # peft's mapping for BERT: keys, values, both output projections
IA3_FEEDFORWARD = ("output.dense",)  # scaled on their input: the feed-forward activations (and attention output)


def peft_model(model, method: str, r: int = 8, alpha: float = 16, dropout: float = 0.0,
               total_steps: int | None = None, target_modules: Sequence[str] = TARGETS, head: str = "classifier"):
    """``peft.get_peft_model`` of ``model`` (changed in place: its base weights are frozen) with ``method``:
    ``"lora"`` (rank ``r``, ``alpha``, ``dropout`` on ``target_modules``), ``"adalora"`` (from rank ``1.5 r`` down to
    ``r`` on average, over ``total_steps``: warm-up 10%, final 20%, reallocation every step) or ``"ia3"`` (rank
    and alpha unused). ``head`` trains in full."""
    import peft

    if method not in METHODS:
        raise ValueError(f"peft_model: method must be one of {METHODS}, got {method!r}")
    if method != "ia3" and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
        raise ValueError(f"peft_model: the rank r must be an integer >= 1, got {r!r}")
    if method == "lora":
        config = peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules),
                                 modules_to_save=[head])
    elif method == "adalora":
        if not total_steps or total_steps < 10:
            raise ValueError(f"peft_model: AdaLoRA schedules its rank over the run; give total_steps >= 10, got "
                             f"{total_steps!r}")
        config = peft.AdaLoraConfig(init_r=max(r + 1, round(1.5 * r)), target_r=r, lora_alpha=alpha,
                                    lora_dropout=dropout, target_modules=list(target_modules),
                                    modules_to_save=[head], total_step=total_steps,
                                    tinit=total_steps // 10, tfinal=total_steps // 5, deltaT=1)
    else:
        config = peft.IA3Config(target_modules=list(IA3_TARGETS), feedforward_modules=list(IA3_FEEDFORWARD),
                                modules_to_save=[head])
    return peft.get_peft_model(model, config)


def adalora_after_step(model):
    """``after_step(step)`` for ``fine_tune``: AdaLoRA's importance update and rank reallocation
    (``update_and_allocate``), which must see the gradients of the step just taken. It changes the model outside
    the optimizer, so ``fine_tune`` refuses it with early stopping (restoring an earlier state would undo masks)."""
    return lambda step: model.base_model.update_and_allocate(step - 1)  # fit counts from 1, peft from 0


def adalora_ranks(model) -> dict[str, int]:
    """The rank AdaLoRA kept in each adapted matrix after training, ``{"layer 0 query": 3, ...}`` (its budget is
    ``target_r`` per matrix on average; a matrix may keep none). Empty before the final allocation."""
    pattern = model.peft_config[model.active_adapter].rank_pattern or {}
    out = {}
    for name, kept in pattern.items():
        parts = name.split(".")
        layer = parts[parts.index("layer") + 1] if "layer" in parts else "?"
        out[f"layer {layer} {parts[-3]}"] = int(sum(kept))
    return out


def _is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def labels_loss_fn():
    """``loss_fn(model, batch)`` that passes the labels to the model and trains on its own ``loss``: the course
    classifier's ``classification_loss``, plus what a ``peft`` wrapper adds to it (AdaLoRA's orthogonality
    penalty)."""

    def loss_fn(model, batch):
        # a PeftModel without a task type forwards straight to the wrapped model and would skip the tuner's
        # forward, where AdaLoRA adds its penalty: call the tuner (model.base_model) itself
        target = model.base_model if _is_peft(model) else model
        out = target(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        accuracy = (predicted_labels(out.logits.detach()) == batch["labels"]).float().mean().item()
        return out.loss, {"accuracy": accuracy}

    return loss_fn


__all__ = ["METHODS", "TARGETS", "IA3_TARGETS", "IA3_FEEDFORWARD", "peft_model", "adalora_after_step",
           "adalora_ranks", "labels_loss_fn"]
