"""The course's one training loop: length-bucketed batches per epoch, and ``fit``.

Every training run of the course (MLM pretraining, contrastive alignment, fine-tuning) is
``fit(model, loss_fn, batches, TrainConfig(...))`` with its own ``loss_fn(model, batch) -> (loss, parts)``:

- AdamW in two groups: weight decay on matrices, none on biases and LayerNorm weights (as BERT);
- the learning rate warms up linearly over ``warmup`` of the steps, then decays linearly to 0;
- gradients are clipped at norm ``clip``; ``accumulation`` micro-batches make one optimizer step;
- one history row per step (learning rate, loss, its parts, gradient norm, evaluation columns);
- a NaN or infinite loss stops the run at once with ``FloatingPointError``, which carries the history so far;
- the loop itself draws no random numbers and never reseeds torch: randomness lives in the caller's
  generators (and in the model's dropout).

It runs through Hugging Face ``accelerate``: the model trains on its own device type, in bfloat16 autocast
where the GPU supports it (fp32 elsewhere, and always on CPU), and the same script runs on several GPUs.

Several GPUs
------------
Any course run scales out with no code change: put the chapter's code in a script (``jupyter nbconvert --to script``)
and start it with ``accelerate launch --multi_gpu --num_processes 4 script.py`` (or answer ``accelerate config``
once, then ``accelerate launch script.py``): one process per GPU. Each process builds the same seeded batches and
trains on every 4th micro-batch; gradients are averaged across processes at every step, so a step sees 4x the
examples (divide ``steps`` by 4 to see the same data). The launcher's ``--mixed_precision`` then replaces the
automatic choice, and only the main process shows progress.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

# --- batches ----------------------------------------------------------------------------------------------------


def epoch_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator, window: int = 50,
                  drop_last: bool = False) -> list[list[int]]:
    """One epoch of index batches of similar length: every index once, in batches of ``batch_size``.

    Permute the indices, sort each window of ``window`` batches by length, cut batches, shuffle their order. Padding
    is computed and thrown away: grouping similar lengths removes most of it while the order stays random enough
    for SGD (``window=1`` gives plain random batches). Only the epoch's last cut can be short; ``drop_last``
    drops it (in-batch negatives want full batches). ``rng`` is advanced, so successive calls give new epochs.
    """
    lengths = np.asarray(lengths)
    n = len(lengths)
    if batch_size < 1 or window < 1:
        raise ValueError(f"batch_size and window must be >= 1, got batch_size={batch_size}, window={window}")
    if n == 0 or (drop_last and n < batch_size):
        raise ValueError(f"epoch_batches: {n} examples cannot fill one batch of {batch_size}; "
                         "lower batch_size or give more examples")
    order = rng.permutation(n)
    span = window * batch_size
    order = np.concatenate([w[np.argsort(lengths[w], kind="stable")] for w in np.split(order, range(span, n, span))])
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if drop_last and len(batches[-1]) < batch_size:
        batches.pop()
    return [batches[i].tolist() for i in rng.permutation(len(batches))]


def endless_batches(lengths: Sequence[int], batch_size: int, seed: int, window: int = 50, drop_last: bool = False
                    ) -> Iterator[list[int]]:
    """``epoch_batches`` epoch after epoch, from one seeded generator: a batch never spans two epochs."""
    rng = np.random.default_rng(seed)
    while True:
        yield from epoch_batches(lengths, batch_size, rng, window, drop_last)


# --- optimizer and schedule -------------------------------------------------------------------------------------


def make_optimizer(model, lr: float, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """AdamW with no weight decay on biases and LayerNorm weights (1-d parameters), multi-tensor updates."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, foreach=True)


def warmup_linear(warmup: int, total: int) -> Callable[[int], float]:
    """Learning-rate factor of step ``s`` (0-based): ``(s + 1) / warmup`` while ``s < warmup``, then linear decay
    to 0 at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


# --- the loop ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """How ``fit`` trains. ``warmup``: share of the steps; ``eval_every``: 0 = evaluate at the end only;
    ``mixed_precision``: ``"no"``, ``"bf16"`` or ``"fp16"`` (None: bf16 on a GPU that supports it, else no)."""

    steps: int
    lr: float
    warmup: float = 0.1
    weight_decay: float = 0.01
    clip: float = 1.0
    accumulation: int = 1
    eval_every: int = 0
    log_every: int = 10
    mixed_precision: str | None = None

    def __post_init__(self):
        for name in ("steps", "accumulation", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and 0 <= self.warmup <= 1 and self.clip > 0 and self.eval_every >= 0):
            raise ValueError(f"TrainConfig needs lr > 0, 0 <= warmup <= 1, clip > 0, eval_every >= 0; got {self}")

    @property
    def warmup_steps(self) -> int:
        return max(1, int(self.warmup * self.steps))


class _LossModule(torch.nn.Module):
    """``loss_fn(model, batch)`` as a module's forward, so that accelerate's autocast and gradient synchronisation
    see the whole loss, while ``loss_fn`` still gets the plain model (``model.bert``, ``model.cls``...)."""

    def __init__(self, model, loss_fn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch):
        return self.loss_fn(self.model, batch)


def make_accelerator(model, cfg: TrainConfig):
    """An ``accelerate.Accelerator`` for ``model``'s device type (a CPU model trains on CPU, in fp32)."""
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.state import AcceleratorState

    on_cpu = next(model.parameters()).device.type == "cpu"
    precision = cfg.mixed_precision
    if precision is None and not os.environ.get("ACCELERATE_MIXED_PRECISION"):  # under a launcher, its flag rules
        precision = "bf16" if not on_cpu and torch.cuda.is_bf16_supported(including_emulation=False) else "no"
    if on_cpu and precision not in (None, "no"):
        raise ValueError(f"mixed_precision={precision!r} needs a GPU; the model is on the CPU (use 'no')")
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        # accelerate keeps one state per process; a single process may train CPU and GPU models in turn
        AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(cpu=on_cpu, mixed_precision=precision, gradient_accumulation_steps=cfg.accumulation,
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


def fit(model, loss_fn: Callable, batches: Iterable, cfg: TrainConfig, evaluate: Callable | None = None,
        progress: bool = True, desc: str = "training", after_step: Callable[[int], None] | None = None
        ) -> pd.DataFrame:
    """Train ``model`` in place for ``cfg.steps`` optimizer steps; returns the history, one row per step.

    ``loss_fn(model, batch) -> (loss, parts)``: a scalar tensor and a dict of floats (means over the micro-batch)
    or strings; ``batches``: an iterator of micro-batches (tensors in them are moved to the model's device).
    Row columns: ``step, lr, loss``, the parts (numbers averaged over the step's micro-batches, strings joined
    with commas), ``grad_norm`` (before clipping), and ``evaluate(model) -> dict`` every ``cfg.eval_every`` steps
    and at the last one. ``after_step(step)`` runs after each optimizer step, before the gradients are cleared
    (AdaLoRA's rank allocation reads them there). The model is left in train mode.
    """
    from accelerate.utils import send_to_device

    acc = make_accelerator(model, cfg)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(cfg.warmup_steps, cfg.steps))
    wrapped, optimizer = acc.prepare(_LossModule(model, loss_fn), optimizer)
    micro_batches = itertools.islice(iter(batches), acc.process_index, None, acc.num_processes)
    model.train()
    history: list[dict] = []
    bar = tqdm(range(1, cfg.steps + 1), desc=desc, disable=not progress or not acc.is_local_main_process)
    for step in bar:
        row: dict = {"step": step, "lr": schedule.get_last_lr()[0], "loss": 0.0}
        for _ in range(cfg.accumulation):
            try:
                batch = send_to_device(next(micro_batches), acc.device)
            except StopIteration:
                raise ValueError(f"fit: batches ran out at step {step} of {cfg.steps}; give an endless iterator "
                                 "(e.g. endless_batches) or fewer steps") from None
            with acc.accumulate(wrapped):
                loss, parts = wrapped(batch)
                value = loss.item()
                if not math.isfinite(value):
                    err = FloatingPointError(f"the loss became {value} at step {step} (learning rate "
                                             f"{row['lr']:.3g}); lower the learning rate or check the inputs")
                    err.history = pd.DataFrame(history)
                    raise err
                acc.backward(loss)
                if acc.sync_gradients:
                    row["grad_norm"] = float(acc.clip_grad_norm_(wrapped.parameters(), cfg.clip))
                optimizer.step()
                if after_step is not None and acc.sync_gradients:
                    after_step(step)
                optimizer.zero_grad(set_to_none=True)
            _add_parts(row, {"loss": value, **parts}, cfg.accumulation)
        schedule.step()
        if evaluate is not None and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps):
            row.update(evaluate(model))
            model.train()
        history.append(row)
        if step % cfg.log_every == 0 or step == cfg.steps:
            bar.set_postfix(loss=f"{np.mean([r['loss'] for r in history[-cfg.log_every:]]):.3f}")
    return pd.DataFrame(history)


def _add_parts(row: dict, parts: dict, accumulation: int) -> None:
    for key, value in parts.items():
        if isinstance(value, str):
            row[key] = f"{row[key]},{value}" if row.get(key) else value
        else:
            row[key] = row.get(key, 0.0) + float(value) / accumulation
