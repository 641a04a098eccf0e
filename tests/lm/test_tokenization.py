import logging

import pytest
from tokenizers import trainers

from xlrec_lib.lm.tokenization import (
    SPECIAL_TOKENS,
    backend_copy,
    count_units,
    in_fixed_order,
    language_sampling_probs,
    tokens_per_unit,
    train_wordpiece,
)

TEXTS = ["In the beginning God created the heaven and the earth.", "起初，神创造天地。",
         "Au commencement, Dieu créa les cieux et la terre.", "And the earth was without form, and void."] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(TEXTS, vocab_size=300, min_frequency=1)


def test_special_tokens_first_and_template(tokenizer):
    assert tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS) == [0, 1, 2, 3, 4]
    enc = tokenizer("the earth", "起初")
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2
    assert enc["token_type_ids"][-1] == 1 and enc["token_type_ids"][0] == 0


def test_trained_ids_are_the_same_in_every_run():
    # many pieces of equal frequency: the trainer's own order of them follows a hash map and moves between runs
    texts = [" ".join(f"{a}{b}" for a in "abcdefgh" for b in "ijklmnop")] * 3
    runs = [train_wordpiece(texts, vocab_size=120, min_frequency=1).get_vocab() for _ in range(4)]
    assert all(run == runs[0] for run in runs[1:])
    pieces = sorted(runs[0], key=runs[0].get)
    assert pieces[:5] == SPECIAL_TOKENS and pieces[5:] == sorted(pieces[5:])


def test_fixed_order_keeps_the_pieces_and_the_splits():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"b": 0, "[SEP]": 1, "##c": 2, "[PAD]": 3, "[UNK]": 4, "a": 5, "[MASK]": 6, "[CLS]": 7, "ab": 8}
    assert Tokenizer(in_fixed_order(vocab)).get_vocab() == {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3,
                                                            "[MASK]": 4, "##c": 5, "a": 6, "ab": 7, "b": 8}
    # against the trainer's own model: same pieces and settings (a word too long, a character never seen)
    trained = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    trained.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordPieceTrainer(vocab_size=60, min_frequency=1, special_tokens=SPECIAL_TOKENS)
    trained.train_from_iterator(TEXTS[:4] * 3, trainer=trainer)
    fixed = Tokenizer(in_fixed_order(trained.get_vocab()))
    fixed.pre_tokenizer = pre_tokenizers.Whitespace()
    for text in ("the earth was without form", "heavenandearth" * 8, "Ω beginning"):
        assert trained.encode(text).tokens == fixed.encode(text).tokens, text
    assert sorted(fixed.get_vocab()) == sorted(trained.get_vocab())
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        in_fixed_order({k: v for k, v in vocab.items() if k != "[MASK]"})


def test_cjk_characters_split_and_accents_kept(tokenizer):
    assert tokenizer.tokenize("起初神") == ["起", "初", "神"]
    assert "é" in "".join(tokenizer.tokenize("Dieu créa"))  # kept, not stripped to "e"
    assert tokenizer.tokenize("créa") != tokenizer.tokenize("crea")
    assert tokenizer.tokenize("GOD") == tokenizer.tokenize("god")  # lowercased


def test_save_and_reload(tmp_path, tokenizer):
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("起初 the earth")["input_ids"] == tokenizer("起初 the earth")["input_ids"]


def test_count_units_and_tokens_per_unit(tokenizer):
    assert count_units("起初，神创造天地。", "zh") == 7
    assert count_units("the earth was", "en") == 3
    table = tokens_per_unit(tokenizer, {"en": ["the earth"], "zh": ["起初"]})
    assert table.loc["zh", "tokens_per_unit"] == 1.0
    assert table.loc["en", "units"] == 2 and table.loc["en", "unk_rate"] == 0.0


def test_tokens_per_unit_counts_what_the_tokenizer_call_gives_untruncated(tokenizer):
    """The backend is read directly: the same ids as ``tokenizer(..., add_special_tokens=False)``, every token of a
    text longer than the tokenizer's maximum and of one the caller's truncation setting would cut, and the caller's
    tokenizer keeps that setting."""
    fresh = train_wordpiece(TEXTS, vocab_size=300, min_frequency=1)
    fresh.model_max_length = 8
    fresh.backend_tokenizer.enable_truncation(5)
    fresh.backend_tokenizer.enable_padding(length=64)
    texts = [" ".join(TEXTS[:4] * 3), "the earth", "起初，神创造天地。"]
    table = tokens_per_unit(fresh, {"en": texts})
    assert fresh.backend_tokenizer.truncation["max_length"] == 5
    assert fresh.backend_tokenizer.padding["length"] == 64
    # (the transformers call sets truncation itself, so it comes second)
    expected = fresh(texts, add_special_tokens=False, verbose=False)["input_ids"]
    assert max(len(ids) for ids in expected) > 8
    assert table.loc["en", "tokens"] == sum(len(ids) for ids in expected)
    own = backend_copy(fresh)
    assert own.truncation is None and own.padding is None
    assert backend_copy(object()) is None
    # a tokenizer that splits its special tokens: the copy does too, as its call does
    fresh.split_special_tokens = True
    assert backend_copy(fresh).encode_special_tokens
    assert tokens_per_unit(fresh, {"en": ["[CLS] the earth"]}).loc["en", "tokens"] == len(
        fresh(["[CLS] the earth"], add_special_tokens=False)["input_ids"][0])


def test_language_sampling_probs_hand_case():
    # p = (0.9, 0.1); alpha = 0.5: q ∝ (0.9^0.5, 0.1^0.5) = (0.9487, 0.3162) -> (0.75, 0.25)
    q = language_sampling_probs({"en": 900, "sw": 100}, alpha=0.5)
    assert q["en"] == pytest.approx(0.75) and q["sw"] == pytest.approx(0.25)
    assert language_sampling_probs({"en": 900, "sw": 100}, alpha=1.0)["sw"] == pytest.approx(0.1)
    assert language_sampling_probs({"en": 900, "sw": 100}, alpha=0.0)["sw"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        language_sampling_probs({"en": 0}, 0.5)


def test_tokens_per_unit_counts_long_texts_without_the_length_warning():
    """Counting is untruncated on purpose: transformers' "longer than the specified maximum sequence length" warning
    (which chapters 3 and 4 used to show) would only alarm a reader. The same call without ``verbose=False`` warns.
    The warning is read from transformers' logger itself: where its handler writes depends on the version (5.0 keeps
    the stream that was stderr when it was first imported, which pytest's capture does not see)."""
    long_text = " ".join(TEXTS[:4] * 10)
    messages = []
    keep = logging.Handler()
    keep.emit = lambda record: messages.append(record.getMessage())
    library = logging.getLogger("transformers")
    library.addHandler(keep)
    try:
        for warn in (False, True):
            fresh = train_wordpiece(TEXTS, vocab_size=300, min_frequency=1)  # the warning fires once per tokenizer
            fresh.model_max_length = 16
            messages.clear()
            if warn:
                fresh([long_text], add_special_tokens=False)
            else:
                table = tokens_per_unit(fresh, {"en": [long_text]})
                assert table.loc["en", "tokens"] > 16
            assert any("longer than the specified maximum" in m for m in messages) is warn
    finally:
        library.removeHandler(keep)
