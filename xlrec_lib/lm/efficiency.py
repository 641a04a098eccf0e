"""What a fine-tuning method costs and buys, measured the same way for every row of chapter 6's table: trainable
parameters, the checkpoint a task must store, training seconds, inference latency, accuracy and macro-F1.

Latency is the fastest of ``repeats`` forward passes over one fixed padded batch after a warm-up
(``xlrec_lib.timing.time_call``), under ``torch.no_grad``; ratios are taken to the reference row measured in the
same run, so that the machine's speed cancels out.
"""

from __future__ import annotations

from contextlib import nullcontext

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
    from sklearn.metrics import accuracy_score, f1_score

    pred = ft.predicted_labels(ft.predict_logits(model, data, pad_id=pad_id)).numpy()
    labels = data["labels"]
    return {"accuracy": float(accuracy_score(labels, pred)),
            "macro_f1": float(f1_score(labels, pred, average="macro", zero_division=0))}


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
    frame = pd.DataFrame.from_dict(rows, orient="index")
    ref = frame.loc[reference]
    frame["train_time_ratio"] = frame["train_s"] / ref["train_s"]
    frame["latency_ratio"] = frame["latency_ms"] / ref["latency_ms"]
    frame["f1_gap"] = 100 * (ref["macro_f1"] - frame["macro_f1"])
    frame[["accuracy", "macro_f1"]] = 100 * frame[["accuracy", "macro_f1"]]
    frame["trainable_share"] = 100 * frame["trainable_share"]
    return frame[["trainable", "trainable_share", "checkpoint_mb", "train_time_ratio", "latency_ratio", "accuracy",
                  "macro_f1", "f1_gap"]].rename(columns={"trainable_share": "trainable_%", "accuracy": "accuracy_%",
                                                         "macro_f1": "macro_f1_%"})


__all__ = ["forward_latency", "trainable_megabytes", "classification_scores", "efficiency_row", "efficiency_table"]
