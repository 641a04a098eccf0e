import pytest
import torch
from torch.testing import assert_close

from xlrec_lib.lm import mlm
from xlrec_lib.lm.masking import IGNORE
from xlrec_lib.lm.tokenization import train_wordpiece

TEXTS = ["in the beginning god created the heaven and the earth", "起初神创造天地",
         "au commencement dieu créa les cieux et la terre", "and the earth was without form and void",
         "地是空虚混沌", "la terre était informe et vide"] * 10


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(TEXTS, vocab_size=200, min_frequency=1)


def _model(tokenizer, nsp=False):
    from transformers import BertConfig, BertForMaskedLM, BertForPreTraining

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    return (BertForPreTraining if nsp else BertForMaskedLM)(cfg)


def test_tokenize_examples_pairs_word_ids_continue_across_segments(tokenizer):
    ex = mlm.tokenize_examples(tokenizer, pairs=[("the earth", "天地", 1)])
    words, types = ex.word_ids[0], ex.token_type_ids[0]
    assert words[0] == -1 and words[-1] == -1
    real = [w for w in words if w >= 0]
    assert real == sorted(real) and len(set(real)) == 4  # the, earth, 天, 地
    assert types[-1] == 1 and ex.nsp_labels == [1]
    with pytest.raises(ValueError):
        mlm.tokenize_examples(tokenizer)


@pytest.mark.parametrize("max_length, side", [(64, "right"), (7, "right"), (7, "left")])
def test_tokenize_examples_equals_the_transformers_call(max_length, side):
    fresh = train_wordpiece(TEXTS, vocab_size=200, min_frequency=1)  # no truncation set on it by an earlier call
    fresh.truncation_side = side
    before = fresh.backend_tokenizer.to_str()
    pairs = [(TEXTS[i], TEXTS[i + 1], i % 2) for i in range(12)]
    got = (mlm.tokenize_examples(fresh, texts=TEXTS, max_length=max_length),
           mlm.tokenize_examples(fresh, pairs=pairs, max_length=max_length))
    assert fresh.backend_tokenizer.to_str() == before  # the caller's tokenizer is left as it was
    single = fresh(TEXTS, truncation=True, max_length=max_length, return_token_type_ids=True)
    paired = fresh([a for a, _, _ in pairs], [b for _, b, _ in pairs], truncation="longest_first",
                   max_length=max_length, return_token_type_ids=True)
    for ex, enc in zip(got, (single, paired), strict=True):
        assert ex.input_ids == enc["input_ids"] and ex.token_type_ids == enc["token_type_ids"]
        assert all(len(ids) <= max_length for ids in ex.input_ids)
        assert [[w >= 0 for w in row] for row in ex.word_ids] == [
            [w is not None for w in enc.word_ids(i)] for i in range(len(ex))]


def test_tokenize_examples_refuses_a_tokenizer_without_a_fast_backend():
    class NotFast:
        pass

    with pytest.raises(TypeError, match="fast tokenizer"):
        mlm.tokenize_examples(NotFast(), texts=["the earth"])


def test_stream_buckets_by_length_and_never_repeats_an_example_in_a_batch(tokenizer, monkeypatch):
    texts = [" ".join(["the earth"] * (1 + i % 9)) for i in range(50)]  # 9 different lengths, 50 examples
    ex = mlm.tokenize_examples(tokenizer, texts=texts)
    collate, drawn = mlm.collate, []
    monkeypatch.setattr(mlm, "collate", lambda e, idx, pad: drawn.append(idx) or collate(e, idx, pad))
    padding = {}
    for window in (50, 1):
        stream = mlm.Stream(ex, batch_size=8, pad_id=0, seed=0, window=window)
        padding[window] = sum(int((next(stream)["attention_mask"] == 0).sum()) for _ in range(40))
        assert stream.epoch == 6  # 7 batches per epoch (the last one short)
    assert padding[50] < padding[1] / 3
    assert len(drawn) == 80 and all(len(set(idx)) == len(idx) for idx in drawn)


def test_collate_pads_and_stream_cycles(tokenizer):
    ex = mlm.tokenize_examples(tokenizer, texts=["the earth", "in the beginning god created"])
    batch = mlm.collate(ex, [0, 1], tokenizer.pad_token_id)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == batch["word_ids"].shape
    assert batch["attention_mask"][0].sum() == len(ex.input_ids[0])
    assert (batch["word_ids"][0][batch["attention_mask"][0] == 0] == -1).all()
    stream = mlm.Stream(ex, batch_size=1, pad_id=0, seed=0)
    seen = [next(stream)["input_ids"].shape[1] for _ in range(4)]
    assert sorted(seen[:2]) == sorted(seen[2:]) and stream.epoch == 2


def test_masked_only_loss_equals_transformers_full_loss(tokenizer):
    model = _model(tokenizer).eval()
    ex = mlm.tokenize_examples(tokenizer, texts=TEXTS[:6])
    batch = mlm.add_masks(mlm.collate(ex, list(range(6)), tokenizer.pad_token_id), tokenizer, probability=0.3,
                          generator=torch.Generator().manual_seed(0))
    assert (batch["labels"] != IGNORE).any()
    ours, parts = mlm.pretraining_loss(model, batch)
    theirs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   token_type_ids=batch["token_type_ids"], labels=batch["labels"]).loss
    assert_close(ours, theirs)
    assert set(parts) == {"mlm"}


def test_nsp_loss_added_for_pretraining_model(tokenizer):
    model = _model(tokenizer, nsp=True).eval()
    ex = mlm.tokenize_examples(tokenizer, pairs=[(TEXTS[0], TEXTS[3], 0), (TEXTS[0], TEXTS[1], 1)])
    batch = mlm.add_masks(mlm.collate(ex, [0, 1], tokenizer.pad_token_id), tokenizer, probability=0.3,
                          generator=torch.Generator().manual_seed(0))
    loss, parts = mlm.pretraining_loss(model, batch)
    assert set(parts) == {"mlm", "nsp"}
    assert loss.item() == pytest.approx(parts["mlm"] + parts["nsp"], rel=1e-5)


def test_masked_lm_loss_is_deterministic(tokenizer):
    model = _model(tokenizer)
    ex = mlm.tokenize_examples(tokenizer, texts=TEXTS)
    a, b = mlm.masked_lm_loss(model, tokenizer, ex, seed=3), mlm.masked_lm_loss(model, tokenizer, ex, seed=3)
    assert a == b and a > 0
    assert model.training  # restored


def test_masked_token_losses_score_the_same_positions_for_every_model(tokenizer):
    ex = mlm.tokenize_examples(tokenizer, texts=TEXTS)
    model, other = _model(tokenizer), _model(tokenizer)
    with torch.no_grad():
        other.cls.predictions.decoder.weight.mul_(3.0)  # another model: other losses
    a = mlm.masked_token_losses(model, tokenizer, ex, seed=1)
    b = mlm.masked_token_losses(other, tokenizer, ex, seed=1)
    assert a[["example", "token"]].equals(b[["example", "token"]])  # the positions: the seed's, not the model's
    assert not torch.allclose(torch.tensor(a["loss"].values), torch.tensor(b["loss"].values))
    for e, tok in zip(a["example"], a["token"], strict=True):  # a scored token is a regular token of its example
        words = dict(zip(ex.input_ids[e], ex.word_ids[e], strict=True))
        assert tok in words and words[tok] >= 0
    assert mlm.masked_lm_loss(model, tokenizer, ex, seed=1) == pytest.approx(a["loss"].mean())
    # each row, recomputed by hand: the example with all its scored positions shown as [MASK], one forward pass,
    # -log softmax of the hidden token at the row's position
    model.eval()
    mask_id = tokenizer.convert_tokens_to_ids("[MASK]")
    for e, rows in a.groupby("example"):
        ids, where = torch.tensor([ex.input_ids[e]]), torch.tensor(rows["position"].to_numpy().copy())
        hidden = torch.tensor(rows["token"].to_numpy().copy())
        assert (ids[0, where] == hidden).all()
        ids[0, where] = mask_id
        with torch.no_grad():
            logits = model(input_ids=ids, token_type_ids=torch.tensor([ex.token_type_ids[e]])).logits[0]
        by_hand = -torch.log_softmax(logits, -1)[where, hidden]
        assert_close(by_hand.double(), torch.tensor(rows["loss"].to_numpy()), rtol=1e-4, atol=1e-4)


def test_masked_lm_loss_hides_every_scored_token(tokenizer):
    """A model that copies its input scores well wherever a scored token is left in place (one in ten under 80/10/10);
    held-out scoring hides them all, so the copier gets the loss of a model that predicts [MASK] everywhere."""
    import math
    from types import SimpleNamespace

    vocab = len(tokenizer)

    class Copier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))  # a device to read
            self.cls = SimpleNamespace(predictions=lambda h: h)

        def bert(self, input_ids, attention_mask, token_type_ids):
            return SimpleNamespace(last_hidden_state=20.0 * torch.nn.functional.one_hot(input_ids, vocab).float())

    ex = mlm.tokenize_examples(tokenizer, texts=TEXTS * 4)
    loss = mlm.masked_lm_loss(Copier(), tokenizer, ex, seed=0)
    assert loss == pytest.approx(math.log(math.exp(20.0) + vocab - 1), rel=1e-5)


def test_train_learns_a_tiny_corpus_and_repeats_exactly(tokenizer):
    def run(steps, eval_every):
        model = _model(tokenizer)
        streams = {"all": mlm.Stream(mlm.tokenize_examples(tokenizer, texts=TEXTS), batch_size=12, pad_id=0, seed=0)}
        held = mlm.tokenize_examples(tokenizer, texts=TEXTS[:6])
        return mlm.train(model, tokenizer, streams, {"all": 1.0}, steps=steps, lr=5e-3, seed=0, progress=False,
                         evaluate=lambda m: {"valid": mlm.masked_lm_loss(m, tokenizer, held)}, eval_every=eval_every)

    hist = run(120, 60)
    assert hist["valid"].notna().sum() == 2
    assert hist["valid"].dropna().iloc[-1] < 0.6 * hist["mlm"].iloc[:5].mean()
    assert run(10, 5)["mlm"].tolist() == run(10, 5)["mlm"].tolist()  # seeded: the same losses twice


def test_unigram_log_probs_hand_case():
    # vocab 4; train tokens (regular): 2, 2, 3 -> smoothed counts [1, 1, 3, 2] / 7 (specials 0 and 1 not counted)
    train = mlm.Examples([[0, 2, 2, 3, 1]], [[0] * 5], [[-1, 0, 1, 2, -1]])
    expected = torch.log(torch.tensor([1, 1, 3, 2]) / 7)
    torch.testing.assert_close(mlm.unigram_log_probs([train], vocab_size=4), expected)


def test_history_records_the_stream_of_each_step(tokenizer):
    model = _model(tokenizer)
    streams = {name: mlm.Stream(mlm.tokenize_examples(tokenizer, texts=TEXTS), batch_size=4, pad_id=0, seed=0)
               for name in ("a", "b")}
    hist = mlm.train(model, tokenizer, streams, {"a": 0.8, "b": 0.2}, steps=50, lr=1e-3, progress=False)
    share = hist["stream"].value_counts(normalize=True)
    assert set(share.index) == {"a", "b"} and share["a"] > share["b"]
    assert hist["tokens"].between(4 * 4, 4 * 64).all()  # 4 examples of 4 to 64 real tokens each
    # the draws are stream_choices' (seed 0, train's default), so a chapter can redraw them with other seeds
    draws = mlm.stream_choices({"a": 0.8, "b": 0.2}, seed=0)
    assert hist["stream"].tolist() == [next(draws) for _ in range(50)]
    with pytest.raises(ValueError, match="'c'"):
        mlm.train(model, tokenizer, streams, {"c": 1.0}, steps=1)


def test_nsp_accuracy_counts_correct_predictions(tokenizer):
    model = _model(tokenizer, nsp=True).eval()
    ex = mlm.tokenize_examples(tokenizer, pairs=[(TEXTS[0], TEXTS[3], 0), (TEXTS[0], TEXTS[1], 1),
                                                 (TEXTS[2], TEXTS[5], 0)])
    with torch.no_grad():
        torch.nn.init.zeros_(model.cls.seq_relationship.weight)
        model.cls.seq_relationship.bias.copy_(torch.tensor([1.0, 0.0]))  # always predicts label 0
    assert mlm.nsp_accuracy(model, tokenizer, ex) == pytest.approx(2 / 3)
