import itertools

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from transformers import AutoModelForSequenceClassification, BertConfig, BertForMaskedLM, BertModel

from xlrec_lib.encoders.pooling import mean_pool
from xlrec_lib.lm import fine_tuning as ft
from xlrec_lib.lm.tokenization import train_wordpiece

WORDS_POS = ["good", "great", "fine", "nice", "love"]
WORDS_NEG = ["bad", "awful", "poor", "sad", "hate"]


def _texts(n: int, seed: int = 0):
    """Sentences whose label is which word list they draw from: a task a tiny model learns in a few steps."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        y = int(rng.integers(2))
        words = rng.choice(WORDS_POS if y else WORDS_NEG, size=int(rng.integers(2, 6)))
        texts.append("the " + " ".join(words) + " movie")
        labels.append(y)
    return texts, labels


@pytest.fixture(scope="module")
def tokenizer():
    texts, _ = _texts(200)
    return train_wordpiece(texts, vocab_size=60, min_frequency=1, max_length=32)


@pytest.fixture(scope="module")
def encoder(tokenizer):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, pad_token_id=tokenizer.pad_token_id)
    return BertForMaskedLM(config).eval()


# --- losses -------------------------------------------------------------------------------------------------------


def test_bce_with_logits_equals_torch_and_its_gradient_is_sigmoid_minus_y():
    z = torch.tensor([-30.0, -2.0, -0.5, 0.0, 0.7, 3.0, 40.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    loss = ft.bce_with_logits(z, y)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(z, y))
    (grad,) = torch.autograd.grad(loss, z)
    torch.testing.assert_close(grad, ft.bce_logit_grad(z.detach(), y))
    torch.testing.assert_close(grad, (torch.sigmoid(z.detach()) - y) / 7)
    # hand case: z = 0, y = 1: loss log 2, gradient (1/2 - 1) / 1
    torch.testing.assert_close(ft.bce_with_logits(torch.tensor([0.0]), torch.tensor([1.0])), torch.tensor(np.log(2.0),
                                                                                                       dtype=torch.float32))
    assert float(ft.bce_logit_grad(torch.tensor([0.0]), torch.tensor([1.0]))) == -0.5


def test_one_logit_and_two_logit_heads_agree_and_weights_make_a_weighted_mean():
    z = torch.tensor([[1.5], [-0.3], [0.2]])
    y = torch.tensor([1, 0, 0])
    two = torch.cat([torch.zeros_like(z), z], 1)  # softmax([0, z])_1 = sigmoid(z)
    torch.testing.assert_close(ft.classification_loss(z, y), ft.classification_loss(two, y))
    w = torch.tensor([1.0, 3.0])
    manual = (3 * F.softplus(-z[0, 0]) + F.softplus(z[1, 0]) + F.softplus(z[2, 0])) / 5
    torch.testing.assert_close(ft.classification_loss(z, y, w), manual)
    torch.testing.assert_close(ft.classification_loss(two, y, w), manual)
    assert ft.predicted_labels(z).tolist() == [1, 0, 1] and ft.predicted_labels(two).tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="logits must be"):
        ft.classification_loss(z[:, 0], y)
    with pytest.raises(ValueError, match="0/1 labels, got 2"):
        ft.classification_loss(z, torch.tensor([1, 2, 0]))


# --- imbalance ----------------------------------------------------------------------------------------------------


def test_class_weights_hand_case_and_errors():
    labels = [0] * 6 + [1] * 3 + [2] * 1
    w = ft.class_weights(labels, 3)
    torch.testing.assert_close(w, torch.tensor([10 / 18, 10 / 9, 10 / 3]))
    counts = np.bincount(labels)
    assert np.allclose(counts * w.numpy(), 10 / 3)  # every class adds the same total weight n / K
    assert np.isclose((counts * w.numpy()).sum() / 10, 1.0)  # mean weight per example 1
    with pytest.raises(ValueError, match=r"classes \[3\] have no examples"):
        ft.class_weights(labels, 4)
    with pytest.raises(ValueError, match="must lie in"):
        ft.class_weights([0, 5], 3)
    with pytest.raises(ValueError, match="class indices"):
        ft.class_weights([0.5, 1.0], 2)


def test_class_shares_hand_cases():
    counts = [900, 100]
    assert np.allclose(ft.class_shares(counts, 1.0), [0.9, 0.1])
    assert np.allclose(ft.class_shares(counts, 0.0), [0.5, 0.5])
    assert np.allclose(ft.class_shares(counts, 0.5), [30 / 40, 10 / 40])
    with pytest.raises(ValueError, match="alpha"):
        ft.class_shares(counts, 1.5)


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0])
def test_sampler_draws_classes_in_the_promised_proportions(alpha):
    labels = np.array([0] * 700 + [1] * 250 + [2] * 50)
    draws = np.concatenate(list(itertools.islice(ft.sampled_batches(labels, 3, 100, alpha, seed=0), 100)))
    observed = np.bincount(labels[draws], minlength=3)
    expected = ft.class_shares([700, 250, 50], alpha) * len(draws)
    assert stats.chisquare(observed, expected).pvalue > 0.001, (observed, expected)
    # within a class every example is as likely: the rare class's 50 examples are all drawn
    assert set(draws[labels[draws] == 2]) == set(range(950, 1000))
    # and a wrong share would be caught: the natural shares are far from the balanced ones
    if alpha == 0.0:
        assert stats.chisquare(observed, ft.class_shares([700, 250, 50], 1.0) * len(draws)).pvalue < 1e-6
    again = np.concatenate(list(itertools.islice(ft.sampled_batches(labels, 3, 100, alpha, seed=0), 100)))
    assert (again == draws).all()


# --- the model ----------------------------------------------------------------------------------------------------


def test_model_pools_like_encoders_mean_pool_and_leaves_the_encoder_unchanged(encoder, tokenizer):
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    model = ft.classifier_from_encoder(encoder, num_labels=3, dropout=0.0).eval()
    batch = tokenizer(["the good movie", "the bad awful poor movie"], padding=True, return_tensors="pt")
    hidden = encoder.bert(**batch).last_hidden_state
    expected = model.classifier(mean_pool(hidden, batch["attention_mask"]))
    torch.testing.assert_close(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                               expected)
    for k, v in encoder.state_dict().items():
        assert torch.equal(v, before[k])
    again = ft.classifier_from_encoder(encoder, num_labels=3, dropout=0.0)
    assert torch.equal(again.classifier.weight, model.classifier.weight)  # the head's init is seeded
    with pytest.raises(ValueError, match="num_labels"):
        ft.classifier_from_encoder(encoder, num_labels=0)
    with pytest.raises(ValueError, match="BertModel"):
        ft.classifier_from_encoder(torch.nn.Linear(2, 2), num_labels=2)


def test_save_and_load_round_trip_gives_identical_logits(encoder, tokenizer, tmp_path):
    model = ft.classifier_from_encoder(encoder, num_labels=1).eval()
    model.save_pretrained(tmp_path)
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(plain) is ft.BertMeanPoolClassifier and plain.config.num_labels == 1
    saved, read = model.state_dict(), plain.state_dict()
    assert saved.keys() == read.keys() and all(torch.equal(saved[k], read[k]) for k in saved)
    loaded = ft.load_classifier(tmp_path)
    batch = tokenizer(["the good movie", "the bad movie today"], padding=True, return_tensors="pt")
    a = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    b = loaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(a, b)


def test_freeze_keeps_the_chosen_layers_trainable(encoder):
    model = ft.classifier_from_encoder(encoder, num_labels=2)
    total = sum(p.numel() for p in model.parameters())
    words = model.bert.embeddings.word_embeddings.weight.numel()
    assert ft.freeze(model, None, embeddings=True) == total - words
    top = ft.freeze(model, train_layers=1)
    layer = sum(p.numel() for p in model.bert.encoder.layer[1].parameters())
    head = sum(p.numel() for p in model.classifier.parameters())
    assert top == layer + head
    assert not any(p.requires_grad for p in model.bert.encoder.layer[0].parameters())
    with pytest.raises(ValueError, match="train_layers"):
        ft.freeze(model, train_layers=3)


# --- data and training --------------------------------------------------------------------------------------------


def test_tokenize_gives_a_dataset_and_collate_pads(tokenizer):
    from datasets import Dataset

    data = ft.tokenize(tokenizer, ["the good movie", "the bad awful poor sad movie"], [1, 0], max_length=6)
    assert isinstance(data, Dataset) and data["length"] == [5, 6]  # [CLS] the good movie [SEP]; truncated at 6
    batch = ft.collate(data, [0, 1], pad_id=tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (2, 6) and batch["attention_mask"].sum(1).tolist() == [5, 6]
    assert batch["labels"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        ft.tokenize(tokenizer, ["a", "b"], [1], max_length=6)
    with pytest.raises(ValueError, match=r"texts\[1\]"):
        ft.tokenize(tokenizer, ["a", None], [1, 0], max_length=6)


def test_fine_tune_learns_the_toy_task_and_is_reproducible(encoder, tokenizer):
    texts, labels = _texts(256)
    train = ft.tokenize(tokenizer, texts, labels, max_length=16)
    valid = ft.tokenize(tokenizer, *_texts(64, seed=1), max_length=16)
    cfg = ft.FineTuneConfig(lr=3e-3, batch_size=16, epochs=3, patience=None, seed=0)
    runs = []
    for _ in range(2):
        model = ft.classifier_from_encoder(encoder, num_labels=2, seed=0)
        model, history = ft.fine_tune(model, train, cfg, valid=valid, progress=False)
        runs.append((ft.evaluate(model, valid), history))
    (metrics, history), (again, _) = runs
    assert metrics["accuracy"] > 0.95, metrics
    assert metrics == again  # seeded batches, head and dropout
    assert history["valid_loss"].notna().sum() == 1 + 3  # the start, then once per epoch
    assert history["loss"].iloc[-16:].mean() < history["loss"].iloc[:16].mean()


def test_early_stopping_restores_the_best_evaluation(monkeypatch):
    class Toy(torch.nn.Module):
        """A model whose 'validation loss' is |w - 3|."""

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor(0.0))

    def fake_evaluate(m, data, **kwargs):
        return {"loss": abs(float(m.w.detach()) - 3.0), "accuracy": 0.0}

    monkeypatch.setattr(ft, "evaluate", fake_evaluate)
    model, stopper, calls = Toy(), ft.EarlyStopping(valid=None, patience=2), 0
    with pytest.raises(ft.StopEarly):
        for _ in range(10):
            with torch.no_grad():
                model.w += 1
            calls += 1
            stopper(model)
    assert calls == 5 and stopper.best_call == 3  # w = 1, 2, 3 (best), 4, 5 -> two without progress: stop
    stopper.restore(model)
    assert float(model.w) == 3.0
    with pytest.raises(ValueError, match="patience"):
        ft.EarlyStopping(valid=None, patience=0)


def test_fine_tune_with_early_stopping_returns_the_best_weights(encoder, tokenizer):
    texts, labels = _texts(128)
    train = ft.tokenize(tokenizer, texts, labels, max_length=16)
    valid = ft.tokenize(tokenizer, *_texts(32, seed=2), max_length=16)
    cfg = ft.FineTuneConfig(lr=3e-3, batch_size=16, epochs=6, evals_per_epoch=2, patience=1, seed=0)
    model = ft.classifier_from_encoder(encoder, num_labels=2)
    model, history = ft.fine_tune(model, train, cfg, valid=valid, progress=False)
    evals = history.dropna(subset=["valid_loss"])
    best = evals.loc[evals["valid_loss"].idxmin()]
    assert int(best["step"]) == history.attrs["best_step"]
    assert ft.evaluate(model, valid)["loss"] == pytest.approx(best["valid_loss"], abs=1e-5)
    kept = ft.kept_validation(history)
    assert kept["best_step"] == history.attrs["best_step"]
    assert kept["valid_loss"] == pytest.approx(ft.evaluate(model, valid)["loss"], abs=1e-5)
    assert kept["valid_accuracy"] == pytest.approx(ft.evaluate(model, valid)["accuracy"])
    assert evals["step"].iloc[0] == 0 and np.isnan(evals["loss"].iloc[0])  # the start is evaluated first
    assert history.attrs["stopped_early"] == (history["loss"].notna().sum() < cfg.steps(len(train)))


def _history(valid_losses, best_step):
    """A fine_tune-shaped history: evaluations every 10 steps from step 0, training losses between."""
    rows = [{"step": 10 * i, "loss": np.nan if i == 0 else 0.5, "valid_loss": v, "valid_accuracy": 1 - v}
            for i, v in enumerate(valid_losses)]
    rows += [{"step": 10 * i + 5, "loss": 0.4, "valid_loss": np.nan, "valid_accuracy": np.nan}
             for i in range(len(valid_losses) - 1)]
    history = pd.DataFrame(rows).sort_values("step").reset_index(drop=True)
    history.attrs["best_step"] = best_step
    return history


def test_choose_start_takes_the_best_kept_validation_value():
    runs = {"probe, lr 2e-4": _history([0.60, 0.61, 0.62], best_step=0),  # kept its start: 0.60
            "random head, lr 1e-3": _history([0.70, 0.55, 0.50, 0.52], best_step=20)}  # kept step 20: 0.50
    frame = ft.choose_start(runs, by="valid_loss")
    assert list(frame.index) == list(runs)
    assert frame["best_step"].tolist() == [0, 20]
    assert frame["valid_loss"].tolist() == pytest.approx([0.60, 0.50])
    assert frame["valid_accuracy"].tolist() == pytest.approx([0.40, 0.50])
    assert frame["chosen"].tolist() == [False, True]
    runs["random head, lr 1e-3"].loc[runs["random head, lr 1e-3"]["step"] == 20, "valid_accuracy"] = 0.3
    assert ft.choose_start(runs)["chosen"].tolist() == [True, False]  # by accuracy: 0.40 against 0.30
    assert ft.choose_start(runs, by="valid_loss")["chosen"].tolist() == [False, True]
    for by in ("valid_loss", "valid_accuracy"):  # a tie goes to the first run
        tie = ft.choose_start({"a": _history([0.5], 0), "b": _history([0.9, 0.5], 10)}, by=by)
        assert tie["chosen"].tolist() == [True, False]


def test_choose_start_refuses_what_it_cannot_compare():
    with pytest.raises(ValueError, match="at least one"):
        ft.choose_start({})
    with pytest.raises(ValueError, match=r"valid_loss for \['b'\].*diverged"):
        ft.choose_start({"a": _history([0.5], 0), "b": _history([np.inf], 0)}, by="valid_loss")
    with pytest.raises(ValueError, match="run 'b': kept_validation: 0 evaluations"):
        ft.choose_start({"a": _history([0.5], 0), "b": _history([0.5, 0.4], best_step=5)})
    with pytest.raises(ValueError, match="by must be"):
        ft.choose_start({"a": _history([0.5], 0)}, by="loss")
    no_attrs = _history([0.5], 0)
    no_attrs.attrs.clear()
    with pytest.raises(ValueError, match="valid="):
        ft.kept_validation(no_attrs)
    with pytest.raises(ValueError, match="0 evaluations at best_step 5"):
        ft.kept_validation(_history([0.5, 0.4], best_step=5))


def test_a_start_that_no_step_beats_is_kept(encoder, tokenizer):
    """A head copied from a good probe may be the best model: early stopping must be able to keep step 0."""
    train = ft.tokenize(tokenizer, *_texts(64), max_length=16)
    valid = ft.tokenize(tokenizer, *_texts(32, seed=2), max_length=16)
    start = ft.classifier_from_encoder(encoder, num_labels=2)
    before = {k: v.clone() for k, v in start.state_dict().items()}
    start_loss = ft.evaluate(start, valid)["loss"]
    cfg = ft.FineTuneConfig(lr=5.0, batch_size=16, epochs=1, evals_per_epoch=2, patience=None, seed=0, clip=100.0)
    model, history = ft.fine_tune(start, train, cfg, valid=valid, progress=False)  # lr 5: every step makes it worse
    evals = history.dropna(subset=["valid_loss"])
    assert (evals["valid_loss"].iloc[1:] > start_loss).all()
    assert history.attrs["best_step"] == 0
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_custom_loss_replaces_the_classification_loss(encoder, tokenizer):
    train = ft.tokenize(tokenizer, *_texts(64), max_length=16)
    calls = []

    def loss_fn(model, batch):
        calls.append(len(batch["labels"]))
        return ft.classification_loss_fn()(model, batch)

    cfg = ft.FineTuneConfig(lr=1e-3, batch_size=16, epochs=1, patience=None)
    _, history = ft.fine_tune(ft.classifier_from_encoder(encoder, 2), train, cfg, progress=False, loss_fn=loss_fn)
    assert calls == [16] * 4 and len(history) == 4
    with pytest.raises(ValueError, match="after_step changes the model"):
        ft.fine_tune(ft.classifier_from_encoder(encoder, 2), train, cfg, valid=train, progress=False,
                     after_step=lambda step: None)
    with pytest.raises(ValueError, match="custom loss_fn"):
        ft.fine_tune(ft.classifier_from_encoder(encoder, 2), train, ft.FineTuneConfig(weighted=True),
                     progress=False, loss_fn=loss_fn)


def test_sampled_and_weighted_training_run(encoder, tokenizer):
    texts, labels = _texts(64)
    train = ft.tokenize(tokenizer, texts, labels, max_length=16)
    for cfg in (ft.FineTuneConfig(lr=1e-3, batch_size=8, epochs=1, alpha=0.0, patience=None),
                ft.FineTuneConfig(lr=1e-3, batch_size=8, epochs=1, weighted=True, patience=None)):
        model, history = ft.fine_tune(ft.classifier_from_encoder(encoder, 2), train, cfg, progress=False)
        assert len(history) == 8 and history["loss"].notna().all()
    with pytest.raises(ValueError, match="num_classes"):
        next(ft.train_batches(train, 8, 0, alpha=0.5))


def test_seed_loop_takes_one_example_per_step(encoder, tokenizer):
    texts, labels = _texts(8)
    data = ft.tokenize(tokenizer, texts, labels, max_length=16)
    model = ft.classifier_from_encoder(encoder, 2)
    before = model.classifier.weight.detach().clone()
    losses = ft.seed_loop(model, data, steps=5, lr=1e-3, seed=0)
    assert len(losses) == 5 and all(np.isfinite(losses))
    assert not torch.equal(model.classifier.weight, before)


def test_bert_model_is_accepted_as_an_encoder(encoder):
    bert = BertModel(encoder.config, add_pooling_layer=False)
    model = ft.classifier_from_encoder(bert, 2)
    assert isinstance(model, ft.BertMeanPoolClassifier)


def test_trainer_and_fit_give_the_same_metrics_within_noise(encoder, tokenizer, tmp_path):
    texts, labels = _texts(256)
    train = ft.tokenize(tokenizer, texts, labels, max_length=16)
    valid = ft.tokenize(tokenizer, *_texts(64, seed=1), max_length=16)
    cfg = ft.FineTuneConfig(lr=3e-3, batch_size=16, epochs=3, patience=None, seed=0)
    ours, _ = ft.fine_tune(ft.classifier_from_encoder(encoder, 2), train, cfg, progress=False)
    theirs, log = ft.trainer_fine_tune(ft.classifier_from_encoder(encoder, 2), train, cfg, tokenizer, tmp_path)
    assert log["step"].max() == cfg.steps(len(train))
    assert ft.evaluate(theirs, valid)["accuracy"] > 0.95 and ft.evaluate(ours, valid)["accuracy"] > 0.95
    for other in ({"alpha": 0.5}, {"weighted": True}):  # settings the Trainer run does not have
        with pytest.raises(ValueError, match="plain loss"):
            ft.trainer_fine_tune(ours, train, ft.FineTuneConfig(**{**cfg.__dict__, **other}), tokenizer, tmp_path)


def test_load_or_fine_tune_trains_once_then_loads(encoder, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    data = ft.tokenize(tokenizer, *_texts(32), max_length=16)
    calls = []

    def train_fn():
        calls.append(1)
        return ft.fine_tune(ft.classifier_from_encoder(encoder, 2), data, ft.FineTuneConfig(epochs=1, batch_size=8,
                                                                                              patience=None),
                            valid=data, progress=False)

    first, history = ft.load_or_fine_tune("toy", {"data": 1}, train_fn, tokenizer)
    again, history2 = ft.load_or_fine_tune("toy", {"data": 1}, train_fn, tokenizer)
    assert len(calls) == 1 and history2["loss"].tolist() == pytest.approx(history["loss"].tolist(),
                                                                                  nan_ok=True)
    assert history2.attrs == history.attrs and history.attrs["train_seconds"] > 0  # the time survives the cache
    assert torch.equal(ft.predict_logits(first, data), ft.predict_logits(again, data))


def test_set_head_turns_a_probe_on_unit_vectors_into_the_same_logits(encoder, tokenizer):
    from sklearn.linear_model import LogisticRegression

    texts, labels = _texts(64)
    model = ft.classifier_from_encoder(encoder, 2, dropout=0.0, normalize=True).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder.bert(**batch).last_hidden_state
        x = torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1).numpy()
    probe = LogisticRegression(C=10.0, max_iter=2000).fit(x, labels)
    ft.set_head(model, probe.coef_, probe.intercept_)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    np.testing.assert_allclose((logits[:, 1] - logits[:, 0]).numpy(), probe.decision_function(x), rtol=1e-4,
                               atol=1e-4)
    one = ft.set_head(ft.classifier_from_encoder(encoder, 1, dropout=0.0, normalize=True).eval(), probe.coef_,
                      probe.intercept_)
    with torch.no_grad():
        np.testing.assert_allclose(one(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[
            :, 0].numpy(), probe.decision_function(x), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="does not fit"):
        ft.set_head(ft.classifier_from_encoder(encoder, 3), probe.coef_, probe.intercept_)


def test_classifier_from_probe_starts_at_the_probes_predictions(encoder, tokenizer):
    from xlrec_lib.encoders.pooling import HFEncoder
    from xlrec_lib.lm import linear_probe

    texts, labels = _texts(64)
    enc = HFEncoder(encoder.bert, tokenizer, "toy", max_length=16)
    x = enc.encode(texts).numpy()
    p = linear_probe.probe(x[:48], labels[:48], x[48:], labels[48:], cs=(10.0,))
    model = ft.classifier_from_probe(encoder, p, train_layers=1)
    data = ft.tokenize(tokenizer, texts, labels, max_length=16)
    logits = ft.predict_logits(model, data)
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], p.model.decision_function(x), atol=1e-4)
    trainable = {n for n, q in model.named_parameters() if q.requires_grad}
    assert "classifier.weight" in trainable and not any(n.startswith("bert.embeddings") for n in trainable)
    assert not any(".layer.0." in n for n in trainable) and any(".layer.1." in n for n in trainable)


def test_dataset_fingerprint_sees_tokens_and_labels(tokenizer):
    texts, labels = _texts(16)
    a = ft.tokenize(tokenizer, texts, labels, max_length=16)
    assert ft.dataset_fingerprint(a) == ft.dataset_fingerprint(ft.tokenize(tokenizer, texts, labels, max_length=16))
    flipped = [1 - labels[0]] + labels[1:]
    assert ft.dataset_fingerprint(a) != ft.dataset_fingerprint(ft.tokenize(tokenizer, texts, flipped, max_length=16))
    assert ft.dataset_fingerprint(a) != ft.dataset_fingerprint(ft.tokenize(tokenizer, texts, labels, max_length=4))


def test_cached_fine_tune_keys_on_the_data_and_the_start(encoder, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    data = ft.tokenize(tokenizer, *_texts(32), max_length=16)
    cfg = ft.FineTuneConfig(epochs=1, batch_size=8, patience=None)
    starts = []

    def start():
        starts.append(1)
        return ft.classifier_from_encoder(encoder, 2)

    ft.cached_fine_tune("toy", start, {"base": "b"}, data, cfg, tokenizer, progress=False)
    ft.cached_fine_tune("toy", start, {"base": "b"}, data, cfg, tokenizer, progress=False)
    assert len(starts) == 1
    ft.cached_fine_tune("toy", start, {"base": "other"}, data, cfg, tokenizer, progress=False)
    shorter = ft.tokenize(tokenizer, *_texts(32), max_length=4)
    ft.cached_fine_tune("toy", start, {"base": "b"}, shorter, cfg, tokenizer, progress=False)
    assert len(starts) == 3
