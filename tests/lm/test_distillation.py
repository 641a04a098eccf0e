import pytest
import torch
import torch.nn.functional as F

from xlrec_lib.cache import weights_digest
from xlrec_lib.lm import fine_tuning as ft
from xlrec_lib.lm.distillation import (
    cached_teacher_logits,
    distill,
    distillation_loss,
    with_teacher_logits,
)


def test_distillation_loss_equals_the_formula_by_hand():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1, 0])
    T, w = 3.0, 0.3
    p, q = torch.softmax(t / T, -1), torch.softmax(s / T, -1)
    kl = (p * (p.log() - q.log())).sum(-1).mean()  # KL(p_teacher || p_student), mean over rows
    ce = -torch.log_softmax(s, -1)[torch.arange(5), y].mean()
    torch.testing.assert_close(distillation_loss(s, t, y, T, w), w * T**2 * kl + (1 - w) * ce)
    torch.testing.assert_close(distillation_loss(s, t, y, T, 0.0), F.cross_entropy(s, y))  # w = 0: labels only
    assert distillation_loss(t, t, y, T, 1.0).abs() < 1e-12  # a student equal to its teacher: no soft loss


def test_distillation_loss_rejects_bad_shapes_and_settings():
    z = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="must both be"):
        distillation_loss(z, torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(z, z, torch.zeros(4, dtype=torch.long), temperature=0)


def test_with_teacher_logits_checks_rows_and_values(toy_data):
    train = toy_data["train"]
    with pytest.raises(ValueError, match="one row per training row"):
        with_teacher_logits(train, torch.zeros(3, 2))
    bad = torch.zeros(len(train), 2)
    bad[7, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        with_teacher_logits(train, bad)
    batch = ft.collate(with_teacher_logits(train, torch.ones(len(train), 2)), [0, 1, 2])
    assert batch["teacher_logits"].shape == (3, 2) and batch["teacher_logits"].dtype == torch.float32


def test_a_student_follows_its_teacher(toy_encoder, toy_data):
    """A teacher that knows the rule (token 5) gives confident logits; a student distilled with w = 1 never sees a
    label and still learns the task from the soft targets alone."""
    train, valid = toy_data["train"], toy_data["valid"]
    has5 = torch.tensor([float(5 in row) for row in train["input_ids"]])
    teacher = torch.stack([-4 * has5 + 2, 4 * has5 - 2], 1)  # (n, 2): right on every row
    wrong = with_teacher_logits(train, teacher).map(lambda r: {"labels": 0})  # labels all 0: must be ignored
    cfg = ft.FineTuneConfig(lr=1e-2, batch_size=16, epochs=4, patience=None, seed=0)
    student, history = distill(ft.classifier_from_encoder(toy_encoder, 2, seed=0), wrong, teacher, cfg,
                               weight=1.0, progress=False)
    assert ft.evaluate(student, valid)["accuracy"] > 0.9
    assert history["loss"].iloc[-8:].mean() < history["loss"].iloc[:8].mean()


def test_weights_outside_the_unit_interval_are_refused():
    z = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="weight"):
        distillation_loss(z, z, torch.zeros(4, dtype=torch.long), weight=1.5)


def test_cached_teacher_logits_key_on_the_teachers_weights(toy_encoder, toy_data, tmp_path, monkeypatch):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    teacher = ft.classifier_from_encoder(toy_encoder, 2, seed=0)
    first = cached_teacher_logits("toy", {"name": "t"}, teacher, toy_data["valid"])
    torch.testing.assert_close(first, ft.predict_logits(teacher, toy_data["valid"]))
    again = cached_teacher_logits("toy", {"name": "t"}, teacher, toy_data["valid"])
    assert torch.equal(first, again) and len(list(tmp_path.rglob("logits.safetensors"))) == 1
    other = ft.classifier_from_encoder(toy_encoder, 2, seed=1)  # another head, the same name: its own logits
    assert weights_digest(other) != weights_digest(teacher)
    torch.testing.assert_close(cached_teacher_logits("toy", {"name": "t"}, other, toy_data["valid"]),
                               ft.predict_logits(other, toy_data["valid"]))
    assert len(list(tmp_path.rglob("logits.safetensors"))) == 2
