"""Masked-language-model pretraining: examples, length-bucketed streams, the loss, and the pretraining run.

The loss computes the vocabulary logits only at the masked positions (about 15% of the tokens): the
output layer (hidden x vocabulary) is the most expensive matrix product of a small BERT, and the other 85%
of its rows would be thrown away by ``ignore_index`` anyway. Seeds 000/001 train inside
``torch.no_grad()`` (no gradient, so nothing is learned); here the run is the course's one training loop,
``training.fit``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from xlrec_lib.lm.masking import IGNORE, mask_tokens
from xlrec_lib.lm.training import TrainConfig, epoch_batches, fit

# --- examples and batches -----------------------------------------------------------------------------


@dataclass
class Examples:
    """Tokenized examples of one stream (a language, a translation pair, next-sentence pairs)."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    word_ids: list[list[int]]  # -1 for special tokens
    nsp_labels: list[int] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> list[int]:
        return [len(x) for x in self.input_ids]


def tokenize_examples(tokenizer, texts: list[str] | None = None, pairs: list[tuple] | None = None,
                      max_length: int = 128) -> Examples:
    """Tokenize single texts or ``(a, b)`` / ``(a, b, nsp_label)`` pairs with ``[CLS] a [SEP] b [SEP]``.

    Word ids number the words of a and b consecutively (b's continue after a's), so whole-word masking
    treats every word of both sentences alike.
    """
    if (texts is None) == (pairs is None):
        raise ValueError("give exactly one of texts= or pairs=")
    inputs = list(texts) if texts is not None else [(p[0], p[1]) for p in pairs]
    encodings = _encodings(tokenizer, inputs, max_length)
    word_ids = []
    for enc in encodings:
        words, seqs = enc.word_ids, enc.sequence_ids
        first_len = 1 + max((w for w, s in zip(words, seqs, strict=True) if s == 0 and w is not None), default=-1)
        word_ids.append([-1 if w is None else w + (first_len if s == 1 else 0)
                         for w, s in zip(words, seqs, strict=True)])
    labels = [int(p[2]) for p in pairs] if pairs is not None and pairs and len(pairs[0]) == 3 else None
    # token type ids: segment A = 0, B = 1
    return Examples([e.ids for e in encodings], [e.type_ids for e in encodings], word_ids, labels)


def _encodings(tokenizer, inputs: list, max_length: int) -> list:
    """The ``tokenizers`` encodings of texts or ``(a, b)`` pairs, with special tokens, truncated longest-first to
    ``max_length``: what ``tokenizer(...)`` computes, read from a fast tokenizer's backend directly (its conversion
    of every encoding into Python lists took 40% of tokenizing the pretraining corpus). Not padded."""
    from xlrec_lib.lm.tokenization import backend_copy

    own = backend_copy(tokenizer)
    if own is None:  # a slow tokenizer keeps no tokenizers.Encoding objects to read
        raise TypeError("tokenize_examples needs a fast tokenizer (PreTrainedTokenizerFast), got "
                        f"{type(tokenizer).__name__}")
    own.enable_truncation(max_length, strategy="longest_first", direction=tokenizer.truncation_side)
    return own.encode_batch(inputs, add_special_tokens=True)


def collate(examples: Examples, idx: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the chosen examples to the longest one: ``input_ids, token_type_ids, attention_mask, word_ids``
    ``(batch, seq)`` (+ ``nsp_labels`` ``(batch,)``)."""
    seq = max(len(examples.input_ids[i]) for i in idx)

    def pad(rows, value):
        return torch.tensor([r + [value] * (seq - len(r)) for r in rows], dtype=torch.long)

    batch = {
        "input_ids": pad([examples.input_ids[i] for i in idx], pad_id),
        "token_type_ids": pad([examples.token_type_ids[i] for i in idx], 0),
        "attention_mask": pad([[1] * len(examples.input_ids[i]) for i in idx], 0),
        "word_ids": pad([examples.word_ids[i] for i in idx], -1),
    }
    if examples.nsp_labels is not None:
        batch["nsp_labels"] = torch.tensor([examples.nsp_labels[i] for i in idx], dtype=torch.long)
    return batch


class Stream:
    """Endless length-bucketed batches of one ``Examples`` set (``epoch_batches``), a new order every epoch."""

    def __init__(self, examples: Examples, batch_size: int, pad_id: int, seed: int = 0, window: int = 50):
        self.examples, self.batch_size, self.pad_id, self.window = examples, batch_size, pad_id, window
        self.rng = np.random.default_rng(seed)
        self.epoch, self._batches = 0, []

    def __next__(self) -> dict[str, torch.Tensor]:
        if not self._batches:
            self._batches = epoch_batches(self.examples.lengths(), self.batch_size, self.rng, self.window)
            self.epoch += 1
        return collate(self.examples, self._batches.pop(), self.pad_id)


def add_masks(batch: dict, tokenizer, probability: float = 0.15, generator: torch.Generator | None = None,
              mask_share: float = 0.8, random_share: float = 0.1) -> dict:
    """``batch`` with ``input_ids`` masked (by default the 80/10/10 rule, see ``masking.apply_mask``) and ``labels``
    added."""
    inputs, labels = mask_tokens(batch["input_ids"], batch["word_ids"], tokenizer.mask_token_id, len(tokenizer),
                                 first_regular_id=len(tokenizer.all_special_ids), probability=probability,
                                 generator=generator, mask_share=mask_share, random_share=random_share)
    return {**batch, "input_ids": inputs, "labels": labels}


# --- the loss ----------------------------------------------------------------------------------------


def _masked_logits(model, batch: dict):
    """``(encoder output, chosen (batch, seq) bool, logits (n_masked, vocab))``: the output layer runs at the
    positions with a label only, not at every (batch, seq) position."""
    out = model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     token_type_ids=batch["token_type_ids"])
    chosen = batch["labels"] != IGNORE
    return out, chosen, model.cls.predictions(out.last_hidden_state[chosen])


def pretraining_loss(model, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
    """MLM cross-entropy over the masked positions only (+ NSP when the batch and model have it).

    ``model``: ``BertForMaskedLM`` or ``BertForPreTraining``. Returns the loss and its parts as floats.
    """
    out, chosen, logits = _masked_logits(model, batch)
    # a small batch can draw no masked token: its MLM loss is 0 (not the NaN of a mean over nothing)
    loss = F.cross_entropy(logits, batch["labels"][chosen]) if chosen.any() else logits.sum() * 0.0
    parts = {"mlm": loss.item()}
    if "nsp_labels" in batch and hasattr(model.cls, "seq_relationship"):
        nsp = F.cross_entropy(model.cls.seq_relationship(out.pooler_output), batch["nsp_labels"])
        parts["nsp"] = nsp.item()
        loss = loss + nsp
    return loss, parts


@torch.no_grad()
def masked_token_losses(model, tokenizer, examples: Examples, batch_size: int = 64, seed: int = 0) -> pd.DataFrame:
    """One row per scored position of held-out ``examples``, with a fixed masking seed: ``example`` (its index in
    ``examples``), ``position`` (in the example), ``token`` (the id hidden there) and ``loss`` (the model's
    cross-entropy at it, in nats).

    The positions depend on ``examples``, ``seed`` and ``batch_size`` only, never on the model, so two models, or
    a model and a unigram baseline (``-unigram_log_probs(...)[token]``), are scored on the same positions. Every
    chosen position is shown as ``[MASK]`` (not 80/10/10): under the training rule one scored position in ten keeps
    its own token, and a model that learned to copy its input would look like one that reads context.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    parts = []
    for idx in epoch_batches(examples.lengths(), batch_size, np.random.default_rng(seed)):
        batch = add_masks(collate(examples, idx, tokenizer.pad_token_id), tokenizer, generator=gen, mask_share=1.0,
                          random_share=0.0)
        if not (batch["labels"] != IGNORE).any():
            continue
        _, chosen, logits = _masked_logits(model, {k: v.to(device) for k, v in batch.items() if k != "nsp_labels"})
        chosen = chosen.cpu()
        tokens = batch["labels"][chosen]
        losses = F.cross_entropy(logits.float(), tokens.to(device), reduction="none").cpu()
        rows = torch.as_tensor(idx).unsqueeze(1).expand_as(chosen)[chosen]
        where = torch.arange(chosen.shape[1]).expand_as(chosen)[chosen]
        parts.append(pd.DataFrame({"example": rows.numpy(), "position": where.numpy(), "token": tokens.numpy(),
                                   "loss": losses.double().numpy()}))
    model.train(was_training)
    if not parts:
        raise ValueError(f"masked_token_losses: no position of the {len(examples)} held-out examples was chosen to "
                         "be scored; give more (or longer) examples")
    return pd.concat(parts, ignore_index=True)


def masked_lm_loss(model, tokenizer, examples: Examples, batch_size: int = 64, seed: int = 0) -> float:
    """Mean cross-entropy per masked token on held-out ``examples`` (:func:`masked_token_losses`: fixed masks,
    every scored position shown as ``[MASK]``). exp() of it is the perplexity."""
    return float(masked_token_losses(model, tokenizer, examples, batch_size, seed)["loss"].mean())


@torch.no_grad()
def nsp_accuracy(model, tokenizer, examples: Examples, batch_size: int = 128, seed: int = 0) -> float:
    """Share of next-sentence pairs whose label the NSP head of a ``BertForPreTraining`` predicts."""
    device = next(model.parameters()).device
    correct = 0
    for idx in epoch_batches(examples.lengths(), batch_size, np.random.default_rng(seed)):
        b = {k: v.to(device) for k, v in collate(examples, idx, tokenizer.pad_token_id).items()}
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                       token_type_ids=b["token_type_ids"]).seq_relationship_logits
        correct += int((logits.argmax(-1) == b["nsp_labels"]).sum())
    return correct / len(examples)


def unigram_log_probs(train: list[Examples], vocab_size: int) -> torch.Tensor:
    """``(vocab,)`` log-frequencies of the regular tokens of ``train`` (add-one smoothed)."""
    counts = torch.ones(vocab_size, dtype=torch.float64)
    for ex in train:
        ids = torch.tensor([i for row, words in zip(ex.input_ids, ex.word_ids, strict=True)
                            for i, w in zip(row, words, strict=True) if w >= 0], dtype=torch.long)
        counts += torch.bincount(ids, minlength=vocab_size)[:vocab_size]
    return (counts / counts.sum()).log().float()


# --- the training loop ---------------------------------------------------------------------------------


def stream_choices(probs: dict[str, float], seed: int = 0) -> Iterator[str]:
    """The stream of each micro-batch, without end: drawn with ``probs`` by ``random.Random(seed)``, the draws
    ``train`` makes (a redraw with another seed shows the spread that chance gives a run's shares)."""
    names, weights = list(probs), [probs[n] for n in probs]
    rng = random.Random(seed)
    while True:
        yield rng.choices(names, weights)[0]


def train(model, tokenizer, streams: dict[str, Stream], probs: dict[str, float], steps: int, lr: float = 5e-4,
          seed: int = 0, evaluate=None, eval_every: int = 0, progress: bool = True, **options) -> pd.DataFrame:
    """Pretrain ``model`` for ``steps`` optimizer steps with ``training.fit``; returns its history, with the
    ``stream`` of each step and its real (non-padding) ``tokens`` (mean over the step's micro-batches).

    Each micro-batch comes from a stream drawn with ``probs`` (e.g. XLM's smoothed language sampling) and is
    masked by the 80/10/10 rule, both from generators seeded with ``seed``. ``options``: the other
    ``TrainConfig`` fields (``warmup``, ``accumulation``, ``clip``, ...). ``evaluate(model) -> dict`` runs every
    ``eval_every`` steps and at the end.
    """
    if set(probs) - set(streams):
        raise ValueError(f"probs names streams that do not exist: {sorted(set(probs) - set(streams))}")
    cfg = TrainConfig(steps=steps, lr=lr, eval_every=eval_every, **options)
    names, gen = stream_choices(probs, seed), torch.Generator().manual_seed(seed)

    def micro_batches():
        while True:
            name = next(names)
            yield {**add_masks(next(streams[name]), tokenizer, generator=gen), "stream": name}

    def loss_fn(model, batch):
        batch = dict(batch)
        name = batch.pop("stream")
        loss, parts = pretraining_loss(model, batch)
        return loss, {**parts, "stream": name, "tokens": float(batch["attention_mask"].sum())}

    return fit(model, loss_fn, micro_batches(), cfg, evaluate=evaluate, progress=progress, desc="pretraining")
