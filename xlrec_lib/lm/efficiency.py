"""What a fine-tuning method costs and buys, measured the same way for every row of chapter 6's table: trainable
parameters, the checkpoint a task must store, training seconds, inference latency, accuracy and macro-F1.

Latency is the fastest of ``repeats`` forward passes over one fixed padded batch after a warm-up
(``xlrec_lib.timing.time_call``), under ``torch.no_grad``; ratios are taken to the reference row measured in the
same run, so that the machine's speed cancels out.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from xlrec_lib.lm import fine_tuning as ft
from xlrec_lib.lm.compression import state_dict_megabytes
from xlrec_lib.lm.lora import trainable_parameters
from xlrec_lib.timing import time_call


def forward_latency(model, batch: dict, repeats: int = 5, autocast_dtype: torch.dtype | None = None) -> float:
    """Seconds of one forward pass of ``model`` over ``batch`` (``input_ids``, ``attention_mask``): the fastest of
    ``repeats`` after one warm-up, in eval mode, without gradients; ``autocast_dtype`` (e.g. ``torch.bfloat16``)
    runs it under ``torch.autocast`` on the model's device."""
    device = next(model.parameters()).device
    ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
    cast = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else nullcontext()
    was_training = model.training
    model.eval()

    def run():
        with torch.no_grad(), cast:
            model(input_ids=ids, attention_mask=mask)
        if device.type == "cuda":
            torch.cuda.synchronize()

    seconds = time_call(run, repeats, warmup=1)
    model.train(was_training)
    return seconds


def trainable_megabytes(model) -> float:
    """MB (2**20 bytes) of the parameters with ``requires_grad``: what a task must store when the frozen base is
    shared (LoRA's A and B and the head), at their own dtype."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad) / 2**20


def classification_scores(model, data, pad_id: int = 0) -> dict[str, float]:
    """``{"accuracy", "macro_f1"}`` of ``model`` on a ``tokenize`` dataset ``data`` (shares in [0, 1])."""
    return scores_from_logits(ft.predict_logits(model, data, pad_id=pad_id), data["labels"])


def scores_from_logits(logits, labels) -> dict[str, float]:
    """``{"accuracy", "macro_f1"}`` of ``(n, K)`` logits (any runtime's: torch, ONNX) against ``labels`` ``(n,)``."""
    from sklearn.metrics import accuracy_score, f1_score

    pred = ft.predicted_labels(torch.as_tensor(logits)).numpy()
    labels = np.asarray(labels)
    if len(pred) != len(labels):
        raise ValueError(f"scores_from_logits: {len(pred)} rows of logits for {len(labels)} labels")
    return {"accuracy": float(accuracy_score(labels, pred)),
            "macro_f1": float(f1_score(labels, pred, average="macro", zero_division=0))}


def correct(model, data, pad_id: int = 0) -> np.ndarray:
    """``(n,)`` 1.0 where ``model`` classifies row i of ``data`` right, else 0.0: per-example scores for a paired
    interval between two models on the same rows (``xlrec_lib.intervals.paired_difference``)."""
    pred = ft.predicted_labels(ft.predict_logits(model, data, pad_id=pad_id)).numpy()
    return (pred == np.asarray(data["labels"])).astype(np.float64)


def choose_lr(make_model, train, valid, cfg: ft.FineTuneConfig, lrs, pad_id: int = 0, **fine_tune_kw):
    """Fine-tune ``make_model()`` on ``train`` at each learning rate of ``lrs`` (``cfg`` otherwise) and score it on
    ``valid``; returns ``(best lr, best model, {lr: validation macro-F1})``. Only the best model is kept."""
    scores, best, best_model = {}, None, None
    for lr in lrs:
        model, _ = ft.fine_tune(make_model(), train, replace(cfg, lr=lr), pad_id=pad_id, progress=False,
                                **fine_tune_kw)
        scores[lr] = classification_scores(model, valid, pad_id)["macro_f1"]
        if best is None or scores[lr] > scores[best]:
            best, best_model = lr, model
    return best, best_model, scores


def step_seconds(make_model, train, cfg: ft.FineTuneConfig, steps: int = 6, pad_id: int = 0, **fine_tune_kw) -> float:
    """Seconds per optimizer step of ``fine_tune(make_model(), ...)`` over the first ``(steps + 1) * batch_size``
    rows of ``train`` (one epoch), timed from the end of the first step to the end of the last: the first step,
    with the run's set-up and the optimizer's first allocation of its state, is left out. A training-cost ratio
    measured in the same run even when the trained model itself comes from a cache. A caller's ``after_step`` still
    runs after every step."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"step_seconds: steps must be an integer >= 1, got {steps!r}")
    n = (steps + 1) * cfg.batch_size
    if len(train) < n:
        raise ValueError(f"step_seconds: {steps + 1} batches of {cfg.batch_size} need {n} rows, train has {len(train)}")
    caller_after_step = fine_tune_kw.pop("after_step", None)
    ends = []

    def after_step(step):
        if caller_after_step is not None:
            caller_after_step(step)
        ends.append(time.perf_counter())

    ft.fine_tune(make_model(), train.select(range(n)), replace(cfg, epochs=1.0), pad_id=pad_id, progress=False,
                 after_step=after_step, **fine_tune_kw)
    if len(ends) != steps + 1:
        raise RuntimeError(f"step_seconds: expected {steps + 1} optimizer steps, the run made {len(ends)}")
    return (ends[-1] - ends[0]) / steps


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU's feature flags as x86 Linux lists them in ``path`` (its first ``flags`` line); ``None`` where there
    is no such file or line (another system, or an ARM CPU, whose line is ``Features``)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            line = next((raw for raw in f if raw.startswith("flags") and ":" in raw), None)
    except OSError:
        return None
    return set(line.split(":", 1)[1].split()) if line else None


def bf16_in_hardware(path: str = "/proc/cpuinfo") -> bool | None:
    """Does the CPU compute in bf16 (``avx512_bf16`` or ``amx_bf16`` among ``cpu_flags(path)``)? ``None`` when
    the flags cannot be read. Without it, bf16 is emulated on a CPU and usually slower than float32."""
    flags = cpu_flags(path)
    return None if flags is None else bool({"avx512_bf16", "amx_bf16"} & flags)


def efficiency_row(model, test, pad_id: int, batch: dict, train_seconds: float | None, repeats: int = 5,
                   checkpoint_mb: float | None = None) -> dict:
    """One row of the table for a trained ``model``: ``trainable`` (count), ``trainable_share``,
    ``checkpoint_mb`` (default: the trainable tensors when they are a part of the model, else the whole state
    dict), ``train_s``, ``latency_ms`` on ``batch``, ``accuracy`` and ``macro_f1`` on ``test``."""
    count, share = trainable_parameters(model)
    if checkpoint_mb is None:
        checkpoint_mb = trainable_megabytes(model) if share < 1 else state_dict_megabytes(model)
    return {"trainable": count, "trainable_share": share, "checkpoint_mb": checkpoint_mb, "train_s": train_seconds,
            "latency_ms": 1000 * forward_latency(model, batch, repeats), **classification_scores(model, test, pad_id)}


def efficiency_table(rows: dict[str, dict], reference: str) -> pd.DataFrame:
    """``rows`` (name -> ``efficiency_row``) as a frame with ``train_time_ratio`` and ``latency_ratio`` to the row
    ``reference`` and ``f1_gap`` (points of macro-F1 below it: positive = worse), accuracy and F1 in percent."""
    if reference not in rows:
        raise ValueError(f"efficiency_table: the reference row {reference!r} is not among {list(rows)}")
    if not rows[reference].get("train_s") or not rows[reference].get("latency_ms"):
        raise ValueError(f"efficiency_table: the reference row {reference!r} needs train_s and latency_ms > 0")
    frame = pd.DataFrame.from_dict(rows, orient="index")
    ref = frame.loc[reference]
    frame["train_time_ratio"] = frame["train_s"] / ref["train_s"]
    frame["latency_ratio"] = frame["latency_ms"] / ref["latency_ms"]
    frame["f1_gap"] = 100 * (ref["macro_f1"] - frame["macro_f1"])
    frame[["accuracy", "macro_f1"]] = 100 * frame[["accuracy", "macro_f1"]]
    frame["trainable_share"] = 100 * frame["trainable_share"]
    frame["trainable"] = frame["trainable"].astype("Int64")  # a count; NaN (<NA>) for rows that train nothing
    return frame[["trainable", "trainable_share", "checkpoint_mb", "train_time_ratio", "latency_ratio", "accuracy",
                  "macro_f1", "f1_gap"]].rename(columns={"trainable_share": "trainable_%", "accuracy": "accuracy_%",
                                                         "macro_f1": "macro_f1_%"})


def goal_verdicts(goals) -> pd.DataFrame:
    """``goals``: ``(goal, measured, comparison, bound)`` tuples with comparison ``"<="``, ``"<"`` or ``">="``;
    returns one row per goal: ``measured``, ``bound`` (as text) and ``met``."""
    ops = {"<=": lambda v, b: v <= b, "<": lambda v, b: v < b, ">=": lambda v, b: v >= b}
    rows = []
    for goal, measured, op, bound in goals:
        if op not in ops:
            raise ValueError(f"goal_verdicts: comparison must be one of {list(ops)}, got {op!r} for {goal!r}")
        rows.append({"goal": goal, "measured": round(float(measured), 3), "bound": f"{op} {bound}",
                     "met": bool(ops[op](float(measured), bound))})
    return pd.DataFrame(rows).set_index("goal")


__all__ = ["forward_latency", "trainable_megabytes", "classification_scores", "scores_from_logits", "correct",
           "choose_lr", "step_seconds", "cpu_flags", "bf16_in_hardware", "efficiency_row", "efficiency_table",
           "goal_verdicts"]
