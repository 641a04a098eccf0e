"""Knowledge distillation (Hinton et al., 2015): a small student learns from a large teacher's softened logits as
well as from the labels.

With temperature T and weight w, for student logits z_s, teacher logits z_t and labels y::

    L = w T^2 KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - w) CE(z_s, y)

A temperature above 1 flattens both distributions, so the student also learns how the teacher ranks the wrong
classes ("dark knowledge"); the gradient of the soft term scales as 1 / T^2, and the factor T^2 keeps it on the
scale of the hard term as T grows. The teacher's logits are computed once (``teacher_logits``) and travel with the
training rows as a ``teacher_logits`` column, so the student trains through the course's ``fine_tune`` on the
same batches, schedule and early stopping as a student trained on labels alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from xlrec_lib.lm import fine_tuning as ft


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float = 2.0,
                      weight: float = 0.5) -> torch.Tensor:
    """``w T^2 KL(p_teacher^T || p_student^T) + (1 - w) CE(student, labels)``; logits ``(n, K)``, labels ``(n,)``
    (``K >= 2``: softmax heads)."""
    if student.shape != teacher.shape or student.dim() != 2 or student.shape[1] < 2:
        raise ValueError(f"distillation_loss: student and teacher logits must both be (n, K >= 2); got "
                         f"{tuple(student.shape)} and {tuple(teacher.shape)}")
    if not (temperature > 0 and 0 <= weight <= 1):
        raise ValueError(f"distillation_loss needs temperature > 0 and 0 <= weight <= 1; got {temperature}, {weight}")
    soft = F.kl_div(F.log_softmax(student / temperature, -1), F.log_softmax(teacher / temperature, -1),
                    reduction="batchmean", log_target=True)
    return weight * temperature**2 * soft + (1 - weight) * F.cross_entropy(student, labels)


def distillation_loss_fn(temperature: float = 2.0, weight: float = 0.5):
    """``loss_fn(model, batch)`` for ``fine_tune(..., loss_fn=...)``: ``distillation_loss`` against the batch's
    ``teacher_logits`` (rows of a ``with_teacher_logits`` dataset)."""

    def loss_fn(model, batch):
        if "teacher_logits" not in batch:
            raise ValueError("distillation: the training rows carry no teacher_logits; build them with "
                             "with_teacher_logits(train, teacher_logits(...))")
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = distillation_loss(logits, batch["teacher_logits"], batch["labels"], temperature, weight)
        accuracy = (logits.detach().argmax(-1) == batch["labels"]).float().mean().item()
        return loss, {"accuracy": accuracy}

    return loss_fn


def teacher_logits(teacher, data, pad_id: int = 0, batch_size: int = 64) -> torch.Tensor:
    """``(len(data), K)`` logits of ``teacher`` on every row of its own ``tokenize`` dataset ``data`` (the teacher
    has its own tokenizer: tokenize the same texts, in the same order, for teacher and student)."""
    return ft.predict_logits(teacher, data, batch_size=batch_size, pad_id=pad_id)


def cached_teacher_logits(name: str, teacher_key: dict, teacher, data, pad_id: int = 0) -> torch.Tensor:
    """``teacher_logits(teacher, data)`` saved (safetensors) through ``xlrec_lib.cache`` and loaded (checked) on
    later calls. The key holds ``teacher_key`` (a name for people), a digest of the teacher's weights (so a teacher
    trained differently never reads another's logits) and the token ids and labels of ``data``
    (``fine_tuning.dataset_fingerprint``)."""
    from safetensors.torch import load_file, save_file

    from xlrec_lib import cache

    key = {"teacher": teacher_key, "weights": cache.weights_digest(teacher), "data": ft.dataset_fingerprint(data)}
    folder = cache.artefact_dir("embeddings", f"teacher-logits-{name}-{cache.fingerprint(key, ft.VERSION)}")
    return cache.load_or_build(
        folder, lambda tmp: save_file({"logits": teacher_logits(teacher, data, pad_id)}, tmp / "logits.safetensors"),
        lambda path: load_file(path / "logits.safetensors")["logits"])


def with_teacher_logits(data, logits: torch.Tensor):
    """``data`` (a ``tokenize`` dataset of the student) with a ``teacher_logits`` column ``(n, K)``."""
    logits = torch.as_tensor(logits, dtype=torch.float32)
    if logits.dim() != 2 or len(logits) != len(data):
        raise ValueError(f"with_teacher_logits: need ({len(data)}, K) logits, one row per training row; got "
                         f"{tuple(logits.shape)}")
    if not torch.isfinite(logits).all():
        raise ValueError("with_teacher_logits: the teacher's logits hold NaN or inf; check the teacher")
    if "teacher_logits" in data.column_names:
        data = data.remove_columns("teacher_logits")
    return data.add_column("teacher_logits", logits.tolist())


def distill(student, train, logits: torch.Tensor, cfg: ft.FineTuneConfig, valid=None, pad_id: int = 0,
            temperature: float = 2.0, weight: float = 0.5, progress: bool = True):
    """``fine_tune(student, train, cfg, valid)`` with ``distillation_loss`` against ``logits`` ``(len(train), K)``,
    the teacher's logits on the same rows: same batches, schedule, dropout seed and early stopping as the
    labels-only run. Returns ``(student, history)``."""
    return ft.fine_tune(student, with_teacher_logits(train, logits), cfg, valid=valid, pad_id=pad_id,
                        progress=progress, desc="distillation",
                        loss_fn=distillation_loss_fn(temperature, weight))


__all__ = ["distillation_loss", "distillation_loss_fn", "teacher_logits", "cached_teacher_logits",
           "with_teacher_logits", "distill"]
