"""The course's aligned encoder: the MLM chapter's tiny BERT, fine-tuned by InfoNCE on parallel training verses.

Training pairs are (English verse, other-language verse) from the ``train`` split of ``xlrec_lib.corpus`` (Mark and
John never enter). The result is saved with ``save_pretrained`` under a cache key made of the base checkpoint and
this configuration, so that the chapter trains once and loads afterwards.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from xlrec_lib.config import cache_dir


@dataclass(frozen=True)
class AlignConfig:
    """Everything that determines the aligned model besides its base checkpoint (and so the cache key)."""

    langs: tuple[str, ...] = ("zh",)  # paired with English
    steps: int = 200
    batch_size: int = 128
    lr: float = 1e-3  # 2e-3 diverged on the full-size model with code-switching (loss 10 after 60 steps)
    temperature: float = 0.05
    max_length: int = 64
    train_fraction: float = 1.0  # share of the training pairs used (seeded)
    code_switch: float = 0.0  # code-switching rate (0 = off); see xlrec_lib.augment
    center: bool = True  # batch-centred InfoNCE (xlrec_lib.align.info_nce); False collapsed an earlier checkpoint
    seed: int = 0

    def key(self, base: str) -> str:
        blob = json.dumps({"base": base, **asdict(self), "v": 3}, sort_keys=True)  # v: training code version
        return f"aligned-{hashlib.sha1(blob.encode()).hexdigest()[:12]}"


def training_pairs(verses, langs: tuple[str, ...], fraction: float = 1.0, seed: int = 0
                   ) -> tuple[list[str], list[str]]:
    """(English, other) verse pairs of the ``train`` split for every language in ``langs``, shuffled together
    (seeded); ``fraction`` keeps that share of them."""
    part = verses[verses["split"] == "train"]
    src, tgt = [], []
    for lang in langs:
        src += part["en"].tolist()
        tgt += part[lang].tolist()
    order = np.random.default_rng(seed).permutation(len(src))[: int(round(fraction * len(src)))]
    return [src[i] for i in order], [tgt[i] for i in order]


def load_or_align(tokenizer, model, base_key: str, verses, cfg: AlignConfig = AlignConfig(), progress: bool = True):
    """``(encoder, info)``: a ``BertModel`` aligned from a copy of ``model``'s encoder (``model`` is not changed),
    trained on first use and loaded from the cache afterwards. ``info`` holds the config, losses and seconds.

    ``verses``: a frame with ``split`` and one column per language (``xlrec_lib.corpus.load_verses``).
    """
    import time

    from transformers import BertModel

    from xlrec_lib.crosslingual.contrastive import train_contrastive

    folder = cache_dir("models", cfg.key(base_key))
    if (folder / "xlrec_align.json").exists():
        return BertModel.from_pretrained(folder, add_pooling_layer=False).eval(), json.loads(
            (folder / "xlrec_align.json").read_text())
    encoder = copy.deepcopy(getattr(model, "base_model", model))
    src, tgt = training_pairs(verses, cfg.langs, cfg.train_fraction, cfg.seed)
    augment = None
    if cfg.code_switch > 0:
        from xlrec_lib.crosslingual.code_switching import code_switcher
        from xlrec_lib.data import bilingual_lexicon

        if cfg.langs != ("zh",):
            raise ValueError(f"code-switching uses the English-Chinese lexicon; langs must be ('zh',), not {cfg.langs}")
        augment = code_switcher(bilingual_lexicon("train"), rate=cfg.code_switch)
    start = time.perf_counter()
    losses = train_contrastive(encoder, tokenizer, src, tgt, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                               temperature=cfg.temperature, max_length=cfg.max_length, seed=cfg.seed,
                               augment=augment, progress=progress, center=cfg.center)
    info = {"config": asdict(cfg), "base": base_key, "pairs": len(src), "losses": losses,
            "seconds": time.perf_counter() - start}
    encoder.save_pretrained(folder)
    (folder / "xlrec_align.json").write_text(json.dumps(info))  # written last: marks completion
    return encoder.eval(), info


__all__ = ["AlignConfig", "training_pairs", "load_or_align"]
