"""Simulated feedback rounds on held-out interactions (seed 004's "adjust with feedback"), and the bias of the game.

Every round each user is shown ``k`` items they have not been shown before (nor had in their history). A shown item
that is in the user's held-out set counts as **accepted**, every other one as **skipped**. With feedback, the
history weights change before the next round (a Rocchio-style update):

    W_ui <- W_ui + accept_weight   (accepted),        W_ui <- W_ui - skip_weight   (skipped),

and the model scores again from ``W`` (``score_fn(W) -> (n_users, n_items)``: for the keyword matcher the cosine of
``W X`` with the items' keyword vectors, for an item-item model ``W B``). With ``relative=True`` the two weights are
shares of each user's history: they are multiplied by the user's history total ``n_u = sum_i W_ui`` (taken
before the first round), so with ``accept_weight=0.1`` an accepted item weighs a tenth of the history's total, for a
user with 20 films and one with 300 alike (a fixed weight would move the first profile 15 times as far as the
second). The history itself is left as it is, so the first round and the whole no-feedback line do not change.
Without feedback ``W`` never changes, so the rounds show the static ranking ``k`` items at a time. After round ``r``
the **recall** is, averaged over the users with a held-out item, the share of their held-out items accepted so far;
without feedback it equals recall@(r k) of the static ranking.

The bias, plainly: only *logged* items can be accepted. A shown item the user never rated counts as skipped even if
they would have liked it, so the game rewards a model for finding what the log holds, not what users would enjoy;
and an accepted item is a test item (a skipped one, one that is not), so feedback moves the profile towards the rest
of the test set.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from xlrec_lib.rec.topk import topk_dense


def _dense_bool(x, shape, name: str) -> torch.Tensor:
    a = x.toarray() if sp.issparse(x) else np.asarray(x)
    if a.shape != shape:
        raise ValueError(f"{name} must be {shape}, got {a.shape}")
    return torch.from_numpy(a != 0)


def simulate_rounds(score_fn: Callable[[torch.Tensor], torch.Tensor], history, held_out, rounds: int = 5,
                    k: int = 10, accept_weight: float = 1.0, skip_weight: float = 0.0,
                    update: bool = True, per_user: bool = False, relative: bool = False):
    """Play ``rounds`` rounds (module docstring) from ``history`` ``(n_users, n_items)`` non-negative weights
    (sparse or dense) against the ``held_out`` ``(n_users, n_items)`` pairs. ``update=False`` is the no-feedback
    line; ``relative=True`` scales both weights by each user's history total (a user without history keeps
    absolute weights).

    Returns one row per round: ``round``, ``recall`` (cumulative, see above), ``accepted`` (mean accepted items per
    evaluated user in that round) and ``precision`` (the share of that round's shown items accepted, evaluated
    users). With ``per_user=True``, also each evaluated user's recall after the last round, a Series indexed by
    user row (the same users for any two runs on one ``held_out``: pair them for an interval)."""
    for name, value in (("rounds", rounds), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not (accept_weight >= 0 and skip_weight >= 0 and np.isfinite(accept_weight) and np.isfinite(skip_weight)):
        raise ValueError(f"accept_weight and skip_weight must be finite and >= 0, got {accept_weight} and "
                         f"{skip_weight}")
    # a copy: the rounds write into W, never into the caller's history
    w = torch.tensor(np.asarray(history.toarray() if sp.issparse(history) else history, dtype=np.float32))
    if w.ndim != 2:
        raise ValueError(f"history must be an (n_users, n_items) matrix, got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all() or (w < 0).any():
        raise ValueError("history must hold finite weights >= 0 (a count, a rating or a share of each user's films)")
    total = w.sum(1)
    scale = torch.where(total > 0, total, 1.0) if relative else torch.ones_like(total)
    held = _dense_bool(held_out, tuple(w.shape), "held_out")
    shown = w != 0
    if (held & shown).any():
        u, i = (held & shown).nonzero()[0].tolist()
        raise ValueError(f"held_out pair ({u}, {i}) is already in the history")
    n_held = held.sum(1)
    evaluated = n_held > 0
    if not evaluated.any():
        raise ValueError("held_out holds no pair: recall is undefined")
    found = torch.zeros_like(held)
    rows = []
    for r in range(1, rounds + 1):
        scores = torch.as_tensor(score_fn(w)).float()
        if scores.shape != w.shape:
            raise ValueError(f"score_fn returned shape {tuple(scores.shape)}, expected {tuple(w.shape)}")
        ids = topk_dense(torch.where(shown, -torch.inf, scores.nan_to_num(nan=-torch.inf)), k, nonfinite="mask").ids
        user = torch.arange(w.shape[0])[:, None].expand_as(ids)
        ok = ids >= 0
        pick_u, pick_i = user[ok], ids[ok]
        accepted = held[pick_u, pick_i]
        shown[pick_u, pick_i] = True
        found[pick_u[accepted], pick_i[accepted]] = True
        if update:
            w[pick_u, pick_i] += torch.where(accepted, accept_weight, -skip_weight) * scale[pick_u]
        accepted_per_user = torch.zeros(w.shape[0]).index_add_(0, pick_u, accepted.float())
        shown_per_user = ok.sum(1).float()
        rows.append({
            "round": r,
            "recall": float((found.sum(1)[evaluated] / n_held[evaluated]).mean()),
            "accepted": float(accepted_per_user[evaluated].mean()),
            "precision": float(accepted_per_user[evaluated].sum() / shown_per_user[evaluated].sum().clamp_min(1)),
        })
    table = pd.DataFrame(rows)
    if not per_user:
        return table
    users = evaluated.nonzero()[:, 0]
    return table, pd.Series((found.sum(1)[users] / n_held[users]).numpy(), index=users.numpy(), name="recall")


def choose_weights(score_fn: Callable[[torch.Tensor], torch.Tensor], history, held_out, accept_weights,
                   skip_weights, rounds: int = 5, k: int = 10, relative: bool = False):
    """Play every ``(accept_weight, skip_weight)`` pair of the two grids on a validation split and keep the pair
    with the highest recall after the last round; on a tie, the first pair in grid order (accept weights outer,
    skip weights inner). ``history``, ``held_out`` ``(n_users, n_items)``, ``rounds``, ``k`` and ``relative`` are
    as in ``simulate_rounds``.

    Returns ``(table, (accept_weight, skip_weight))``: ``table`` holds that recall, one row per accept weight and
    one column per skip weight."""
    accept_weights, skip_weights = list(accept_weights), list(skip_weights)
    if not accept_weights or not skip_weights:
        raise ValueError("accept_weights and skip_weights must each hold at least one weight")
    table = pd.DataFrame(
        [[simulate_rounds(score_fn, history, held_out, rounds, k, accept_weight=a, skip_weight=b,
                          relative=relative)["recall"].iloc[-1] for b in skip_weights] for a in accept_weights],
        index=pd.Index(accept_weights, name="accept weight"), columns=pd.Index(skip_weights, name="skip weight"))
    row, col = np.unravel_index(np.argmax(table.to_numpy()), table.shape)
    return table, (accept_weights[row], skip_weights[col])
