"""A multilingual WordPiece tokenizer trained on the course corpus, and what it does to each language.

BERT's recipe: lowercase, split CJK characters into single-character words, split on whitespace and
punctuation, then learn a WordPiece vocabulary (continuation pieces start with ``##``). Wrapped as a
``transformers.PreTrainedTokenizerFast`` so that ``save_pretrained`` / ``AutoTokenizer`` work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from xlrec_lib.data.text import cjk_chars

# train_wordpiece's recipe; a change that changes the trained vocabulary bumps it in the same commit. 2: the pieces'
# ids in a fixed order (the trainer's order changed from run to run)
VERSION = 2
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece(texts: Iterable[str], vocab_size: int = 16000, min_frequency: int = 2,
                    max_length: int = 128) -> PreTrainedTokenizerFast:
    """Train BERT-style WordPiece on ``texts``; special tokens get ids 0..4 in ``SPECIAL_TOKENS`` order, every
    other piece the next id in code-point order of the pieces (:func:`in_fixed_order`).

    Accents are kept (``strip_accents=False``): French "é" and German "ü" carry meaning, and multilingual
    BERT's cased model keeps them too.
    """
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=SPECIAL_TOKENS, continuing_subword_prefix="##",
                                        show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    trained = tok.model
    tok.model = in_fixed_order(tok.get_vocab(), trained.unk_token, trained.continuing_subword_prefix,
                               trained.max_input_chars_per_word)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=max_length,
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def in_fixed_order(vocab: Mapping[str, int], unk_token: str = "[UNK]", continuing_subword_prefix: str = "##",
                   max_input_chars_per_word: int = 100) -> models.WordPiece:
    """A WordPiece model of the same pieces and settings with ids in a fixed order: ``SPECIAL_TOKENS`` first, then
    the others sorted by code point.

    Why: the trainer orders pieces of equal frequency by a hash map's order, which changes from process to process.
    The pieces came out the same in every run (three runs each of the course's two vocabularies), but up to 154 of
    8,000 under other ids, so two runs with the same seed pretrained different models. WordPiece splits a word by
    the longest piece in the vocabulary, whatever the ids, so the order changes no tokenization, only the ids.
    The same pieces are observed, not guaranteed: merges of equal count are also ranked by those ids, so a
    vocabulary size that cuts through a group of them could keep other pieces from run to run."""
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise ValueError(f"the vocabulary lacks the special tokens {missing}")
    ordered = SPECIAL_TOKENS + sorted(t for t in vocab if t not in SPECIAL_TOKENS)
    return models.WordPiece({t: i for i, t in enumerate(ordered)}, unk_token=unk_token,
                            continuing_subword_prefix=continuing_subword_prefix,
                            max_input_chars_per_word=max_input_chars_per_word)


def count_units(text: str, lang: str) -> int:
    """CJK characters (``xlrec_lib.data.text.cjk_chars``) for Chinese and Japanese, whitespace-separated words
    otherwise."""
    if lang in ("zh", "ja"):
        return len(cjk_chars(text))
    return len(text.split())


def tokens_per_unit(tokenizer, texts_by_lang: Mapping[str, list[str]]) -> pd.DataFrame:
    """Per language: tokens, units (words, or characters for zh/ja), tokens per unit and the ``[UNK]`` rate.

    A high tokens-per-word ratio means the vocabulary fits that language badly: its sentences cost more
    compute and its words are cut into less meaningful pieces (seed 001's language imbalance).
    """
    rows = []
    unk = tokenizer.unk_token_id
    own = backend_copy(tokenizer)  # one copy for every language
    for lang, texts in texts_by_lang.items():
        ids = _untruncated_ids(tokenizer, own, list(texts))
        n_tokens = sum(len(x) for x in ids)
        n_units = sum(count_units(t, lang) for t in texts)
        rows.append({"lang": lang, "texts": len(texts), "units": n_units, "tokens": n_tokens,
                     "tokens_per_unit": n_tokens / max(n_units, 1),
                     "unk_rate": sum(x.count(unk) for x in ids) / max(n_tokens, 1)})
    return pd.DataFrame(rows).set_index("lang")


def backend_copy(tokenizer) -> Tokenizer | None:
    """A copy of a fast tokenizer's ``tokenizers`` backend with padding and truncation off (``None`` for a slow
    tokenizer), splitting special tokens as the tokenizer's own call would (``split_special_tokens``, which the
    backend's JSON does not keep). Reading its encodings directly skips transformers' conversion of each into
    Python lists (27% of the time ``tokens_per_unit`` took on the pretraining corpus), and the caller's tokenizer
    keeps its settings."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    own = Tokenizer.from_str(backend.to_str())
    own.no_truncation()
    own.no_padding()
    own.encode_special_tokens = bool(getattr(tokenizer, "split_special_tokens", False))
    return own


def _untruncated_ids(tokenizer, own: Tokenizer | None, texts: list[str]) -> list[list[int]]:
    """Token ids of ``texts`` without special tokens, untruncated on purpose (every token counts, and no "longer
    than the maximum" warning): ``tokenizer(texts, add_special_tokens=False)``'s ids, read from ``own``
    (``backend_copy(tokenizer)``; ``None``: through ``tokenizer`` itself)."""
    if own is None:
        return tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    return [e.ids for e in own.encode_batch(texts, add_special_tokens=False)]


def language_sampling_probs(counts: Mapping[str, float], alpha: float) -> dict[str, float]:
    """XLM's exponent-smoothed sampling: q_i = p_i^alpha / sum_j p_j^alpha with p_i = n_i / sum_j n_j.

    alpha = 1 samples in proportion to the data; alpha -> 0 samples languages uniformly; XLM uses 0.5,
    XLM-R 0.3. Low-resource languages are seen more often than their share of the data.
    """
    if not counts or any(n < 0 for n in counts.values()) or sum(counts.values()) <= 0:
        raise ValueError(f"counts must be non-negative with a positive total, got {dict(counts)}")
    total = sum(counts.values())
    weights = {lang: (n / total) ** alpha if n > 0 else 0.0 for lang, n in counts.items()}
    z = sum(weights.values())
    return {lang: w / z for lang, w in weights.items()}
