import itertools

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from xlrec_lib.lm import training
from xlrec_lib.lm.training import TrainConfig, epoch_batches, fit

LENGTHS = [i * 7 % 37 + 3 for i in range(1003)]  # many different lengths; 1003 is not a multiple of the batch


def _padding(batches, lengths):
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


# --- batches ----------------------------------------------------------------------------------------------------


def test_epoch_batches_cover_every_index_once_and_reduce_padding():
    batches = epoch_batches(LENGTHS, 10, np.random.default_rng(0), window=20)
    assert sorted(i for b in batches for i in b) == list(range(1003))
    assert sorted(len(b) for b in batches)[0] == 3 and all(len(b) == 10 for b in batches if len(b) != 3)
    random = epoch_batches(LENGTHS, 10, np.random.default_rng(0), window=1)
    assert _padding(batches, LENGTHS) < _padding(random, LENGTHS) / 5
    assert epoch_batches(LENGTHS, 10, np.random.default_rng(0), window=20) == batches  # seeded
    assert epoch_batches(LENGTHS, 10, np.random.default_rng(1), window=20) != batches


def test_endless_batches_never_repeat_an_index_within_a_batch_across_epochs():
    for batch_size, window, drop_last in [(128, 16, True), (128, 16, False), (7, 3, False), (1003, 4, True)]:
        per_epoch = 1003 // batch_size if drop_last else -(-1003 // batch_size)
        batches = list(itertools.islice(training.endless_batches(LENGTHS, batch_size, 0, window, drop_last),
                                        3 * per_epoch + 1))
        assert all(len(set(b)) == len(b) for b in batches), (batch_size, window, drop_last)
        first, second = batches[:per_epoch], batches[per_epoch:2 * per_epoch]
        assert first != second  # a new order every epoch
        if not drop_last:
            assert sorted(i for b in first for i in b) == sorted(i for b in second for i in b) == list(range(1003))
    drop = list(itertools.islice(training.endless_batches(LENGTHS, 128, 0, 16, drop_last=True), 10))
    assert all(len(b) == 128 for b in drop)


def test_epoch_batches_reject_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        epoch_batches(LENGTHS, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="window"):
        epoch_batches(LENGTHS, 4, np.random.default_rng(0), window=0)
    with pytest.raises(ValueError, match="cannot fill"):
        epoch_batches([3, 4], 4, np.random.default_rng(0), drop_last=True)


# --- optimizer and schedule -------------------------------------------------------------------------------------


def test_warmup_linear_schedule():
    f = training.warmup_linear(warmup=4, total=12)
    assert [f(s) for s in (0, 3, 4, 8, 12)] == [0.25, 1.0, 1.0, 0.5, 0.0]


def test_optimizer_skips_decay_on_biases_and_norms():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 1))
    decay, no_decay = training.make_optimizer(model, lr=1e-3, weight_decay=0.01).param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert [tuple(p.shape) for p in decay["params"]] == [(4, 3), (1, 4)]
    assert [tuple(p.shape) for p in no_decay["params"]] == [(4,), (4,), (4,), (1,)]


# --- fit --------------------------------------------------------------------------------------------------------

W_TRUE = torch.tensor([[1.0], [-2.0], [0.5]])


def _regression(seed=0, n=64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=gen)
    return x, x @ W_TRUE + 0.3


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 1))


def _mse(model, batch):
    x, y = batch
    loss = torch.nn.functional.mse_loss(model(x), y)
    return loss, {"mse": loss.item(), "kind": "reg"}


def _repeat(batch):
    while True:
        yield batch


def test_fit_learns_and_records_one_row_per_step():
    model, batch = _model(), _regression()
    evals = []

    def evaluate(m):
        evals.append(m.training)
        return {"valid": _mse(m, _regression(1))[0].item()}

    hist = fit(model, _mse, _repeat(batch), TrainConfig(steps=60, lr=2e-2, eval_every=25), evaluate=evaluate,
               progress=False)
    assert list(hist["step"]) == list(range(1, 61))
    assert {"lr", "loss", "mse", "kind", "grad_norm", "valid"} <= set(hist)
    assert hist["valid"].notna().sum() == 3 and list(hist.dropna(subset=["valid"])["step"]) == [25, 50, 60]
    assert hist["loss"].iloc[-5:].mean() < 0.05 * hist["loss"].iloc[:5].mean()
    assert hist["lr"].iloc[0] == pytest.approx(2e-2 / 6) and hist["lr"].max() == pytest.approx(2e-2)
    assert (hist["kind"] == "reg").all() and model.training


def test_fit_accumulation_equals_one_big_batch():
    x, y = _regression(n=8)
    halves = itertools.cycle([(x[:4], y[:4]), (x[4:], y[4:])])
    a, b = _model(), _model()
    fit(a, _mse, _repeat((x, y)), TrainConfig(steps=5, lr=1e-2), progress=False)
    hist = fit(b, _mse, halves, TrainConfig(steps=5, lr=1e-2, accumulation=2), progress=False)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert len(hist) == 5 and hist["kind"].iloc[0] == "reg,reg"


def test_fit_clips_the_gradient_and_steps_once_per_accumulation():
    norms = []

    def before_step(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    handle = register_optimizer_step_pre_hook(before_step)
    try:
        hist = fit(_model(), lambda m, b: (1e4 * _mse(m, b)[0], {}), _repeat(_regression()),
                   TrainConfig(steps=3, lr=1e-3, clip=0.5, accumulation=2), progress=False)
    finally:
        handle.remove()
    assert len(norms) == 3 and max(norms) == pytest.approx(0.5, rel=1e-4)
    assert (hist["grad_norm"] > 100).all()  # recorded before clipping


def test_after_step_sees_each_optimizer_step_with_its_gradients():
    seen = []
    model = _model()

    def after_step(step):
        seen.append((step, all(p.grad is not None for p in model.parameters())))

    fit(model, _mse, _repeat(_regression()), TrainConfig(steps=4, lr=1e-3, accumulation=2), progress=False,
        after_step=after_step)
    assert seen == [(1, True), (2, True), (3, True), (4, True)]  # once per step, not per micro-batch


def test_fit_stops_at_the_first_nan_with_the_history_so_far():
    model, (x, y) = _model(), _regression()
    bad = itertools.chain([(x, y)] * 3, [(x * float("nan"), y)], _repeat((x, y)))
    with pytest.raises(FloatingPointError, match="step 4") as err:
        fit(model, _mse, bad, TrainConfig(steps=10, lr=1e-3), progress=False)
    assert list(err.value.history["step"]) == [1, 2, 3]
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the bad batch never reached the weights


def test_fit_neither_draws_from_nor_reseeds_the_global_generator():
    model = _model()  # no dropout: training it needs no random numbers
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(model, _mse, _repeat(_regression()), TrainConfig(steps=3, lr=1e-3), progress=False)
    torch.testing.assert_close(torch.rand(3), expected)


def test_fit_is_deterministic_and_trains_in_fp32_on_cpu():
    runs = [fit(_model(), _mse, _repeat(_regression()), TrainConfig(steps=10, lr=1e-2), progress=False)["loss"]
            .tolist() for _ in range(2)]
    assert runs[0] == runs[1]
    acc = training.make_accelerator(_model(), TrainConfig(steps=1, lr=1e-3))
    assert acc.mixed_precision == "no" and acc.device.type == "cpu"


def test_fit_rejects_bad_config_and_short_iterators():
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0, lr=1e-3)
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig(steps=5, lr=1e-3, warmup=2.0)
    with pytest.raises(ValueError, match="needs a GPU"):
        training.make_accelerator(_model(), TrainConfig(steps=1, lr=1e-3, mixed_precision="bf16"))
    with pytest.raises(ValueError, match="ran out at step 3"):
        fit(_model(), _mse, iter([_regression()] * 2), TrainConfig(steps=5, lr=1e-3), progress=False)
