"""BERT's masking rule for masked-language-model pretraining.

Choose 15% of the real tokens (never ``[CLS]``, ``[SEP]``, ``[PAD]``); of those, 80% become ``[MASK]``,
10% a random token, 10% stay as they are. The model must predict the original token at every chosen
position (``labels``), and nothing elsewhere (``-100``, ignored by cross-entropy). Keeping 10% unchanged
and 10% random stops the model from learning that only ``[MASK]`` positions matter, since ``[MASK]``
never appears when the model is used.
"""

from __future__ import annotations

import torch

IGNORE = -100


def choose_positions(word_ids: torch.Tensor, probability: float, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """Boolean ``(batch, seq)``: the positions to predict.

    ``word_ids``: ``(batch, seq)`` word index of each token, ``-1`` for special and padding tokens (never
    chosen). Each *word* is chosen with ``probability`` and all its pieces with it (whole-word masking);
    pass ``word_ids = arange`` per row to choose single tokens instead.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    batch, _ = word_ids.shape
    n_words = int(word_ids.max().item()) + 1 if word_ids.numel() else 0
    draws = torch.rand(batch, max(n_words, 1), generator=generator)  # one draw per (row, word)
    chosen_word = draws < probability
    idx = word_ids.clamp_min(0)
    return chosen_word.gather(1, idx) & (word_ids >= 0)


def apply_mask(input_ids: torch.Tensor, chosen: torch.Tensor, mask_token_id: int, vocab_size: int,
               first_regular_id: int, generator: torch.Generator | None = None, mask_share: float = 0.8,
               random_share: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """The 80/10/10 rule at the ``chosen`` positions: returns ``(inputs, labels)``, both ``(batch, seq)``.

    ``mask_share`` of them become ``[MASK]``, ``random_share`` a random token, the rest stay. Random
    replacements are drawn from the regular vocabulary ``[first_regular_id, vocab_size)`` so that a special
    token is never inserted. Scoring uses ``mask_share=1, random_share=0`` (``mlm.masked_lm_loss``): a
    position that keeps its token would reward a model for copying its input.
    """
    if not (0.0 <= mask_share and 0.0 <= random_share and mask_share + random_share <= 1.0):
        raise ValueError(f"mask_share={mask_share} and random_share={random_share} must be >= 0 with a sum <= 1")
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    u = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (u < mask_share)
    to_random = chosen & (u >= mask_share) & (u < mask_share + random_share)
    random_ids = torch.randint(first_regular_id, vocab_size, input_ids.shape, generator=generator)
    inputs = torch.where(to_mask, torch.full_like(input_ids, mask_token_id), input_ids)
    inputs = torch.where(to_random, random_ids, inputs)
    return inputs, labels


def mask_tokens(input_ids: torch.Tensor, word_ids: torch.Tensor, mask_token_id: int, vocab_size: int,
                first_regular_id: int, probability: float = 0.15, generator: torch.Generator | None = None,
                mask_share: float = 0.8, random_share: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole-word masking, by default with the 80/10/10 rule: ``choose_positions`` then ``apply_mask``."""
    chosen = choose_positions(word_ids, probability, generator)
    return apply_mask(input_ids, chosen, mask_token_id, vocab_size, first_regular_id, generator, mask_share,
                      random_share)
