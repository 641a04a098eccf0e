"""The course's aligned encoder: the MLM chapter's tiny BERT, fine-tuned by InfoNCE on parallel training verses.

Training pairs are (English verse, other-language verse) from the ``train`` split of ``xlrec_lib.lm.corpus`` (Mark
and John never enter). The model and its tokenizer are saved through ``xlrec_lib.cache`` under a key made of the base
checkpoint, this configuration and the versions of the code that trains it, so that the chapter trains once and
loads (checked) afterwards; the folder also loads through ``XLREC_ENCODER=hf:<folder>``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xlrec_lib import cache
from xlrec_lib.config import device
from xlrec_lib.encoders.pooling import HFEncoder

VERSION = 1  # training_pairs and align (with the loop in crosslingual.contrastive): bumped with their results
INFO_FILE = "xlrec_align.json"


def versions() -> dict:
    """What an aligned model depends on besides its config and base: this module, the code-switching and lexicon
    rules, the word rules and the corpus."""
    from xlrec_lib.crosslingual import code_switching
    from xlrec_lib.data import text
    from xlrec_lib.data.cedict import VERSION as CEDICT_VERSION
    from xlrec_lib.lm import corpus

    return {"aligned_encoder": VERSION, "code_switching": code_switching.VERSION, "cedict": CEDICT_VERSION,
            "text": text.VERSION, "corpus": corpus.versions()}


@dataclass(frozen=True)
class AlignConfig:
    """Everything that determines the aligned model besides its base checkpoint (and so the cache key)."""

    langs: tuple[str, ...] = ("zh",)  # paired with English
    steps: int = 200
    batch_size: int = 128
    lr: float = 1e-3  # the 4-layer model with code-switching needs <= 1e-3 to converge
    temperature: float = 0.05
    max_length: int = 64
    train_fraction: float = 1.0  # share of the training pairs used (seeded)
    code_switch: float = 0.0  # code-switching rate (0 = off); see xlrec_lib.crosslingual.code_switching
    center: bool = True  # batch-centred InfoNCE (crosslingual.contrastive.info_nce), which keeps the loss off log B
    seed: int = 0

    def key(self, base: str) -> str:
        """Cache folder name of the model aligned from the checkpoint named ``base`` with this config."""
        return f"aligned-{cache.fingerprint({'base': base, **asdict(self)}, versions())}"


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


def align(tokenizer, model, verses, cfg: AlignConfig = AlignConfig(), progress: bool = True):
    """``(encoder, info)``: a ``BertModel`` aligned from a copy of ``model``'s encoder (``model`` is not changed);
    ``info`` holds the config, number of pairs, losses and seconds. Saves nothing (``load_or_align`` caches)."""
    import time

    from xlrec_lib.crosslingual.contrastive import train_contrastive

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
    info = {"config": asdict(cfg), "pairs": len(src), "losses": losses, "seconds": time.perf_counter() - start}
    return encoder.eval(), info


def load_or_align(tokenizer, model, base_key: str, verses, cfg: AlignConfig = AlignConfig(), progress: bool = True,
                  name: str = "aligned tiny BERT") -> tuple[HFEncoder, dict]:
    """``(encoder, info)`` of ``align``: the aligned model behind the encoder protocol (on ``device()``), trained
    on first use and loaded from the cache afterwards. ``base_key`` names ``model``'s checkpoint (its cache folder
    name); ``verses``: a frame with ``split`` and one column per language (``xlrec_lib.lm.corpus.load_verses``)."""
    from transformers import BertModel

    def build(tmp: Path) -> None:
        encoder, info = align(tokenizer, model, verses, cfg, progress)
        encoder.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / INFO_FILE).write_text(json.dumps({**info, "base": base_key}), encoding="utf-8")

    def load(folder: Path) -> tuple[HFEncoder, dict]:
        encoder = BertModel.from_pretrained(folder, add_pooling_layer=False).to(device()).eval()
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        return HFEncoder(encoder, tokenizer, name, weights_key=folder.name), info

    return cache.load_or_build(cache.artefact_dir("models", cfg.key(base_key)), build, load)


__all__ = ["VERSION", "AlignConfig", "versions", "training_pairs", "align", "load_or_align"]
