import numpy as np
import pytest

from xlrec_lib.crosslingual.word_vectors import (
    PPMIConfig,
    WordVectors,
    build_vocab,
    cooccurrences,
    ppmi,
    ppmi_matrix,
    ppmi_svd,
    train_word_vectors,
    word_vectors_dir,
)


def test_build_vocab_orders_by_count_then_word():
    words, counts = build_vocab([["b", "a", "c"], ["a", "b", "d"], ["a"]], min_count=2)
    assert words == ["a", "b"] and counts.tolist() == [3, 2]


def test_cooccurrences_hand_case():
    # stream a b a c(oov) with window 1: pairs (a,b), (b,a), then (a,-1) skipped
    rows, cols, counts = cooccurrences(np.array([0, 1, 0, -1]), n_words=2, window=1)
    assert sorted(zip(rows.tolist(), cols.tolist(), counts.tolist(), strict=True)) == [(0, 1, 2), (1, 0, 2)]
    rows, cols, counts = cooccurrences(np.array([0, 1, 0]), n_words=2, window=2)
    assert sorted(zip(rows.tolist(), cols.tolist(), counts.tolist(), strict=True)) == [(0, 0, 2), (0, 1, 2), (1, 0, 2)]


def test_ppmi_matches_the_formula():
    rows, cols, counts = np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([4, 1, 5])
    r, c, v = ppmi(rows, cols, counts, n_words=2, alpha=1.0)
    total = 10
    p_w = np.array([5, 5]) / total
    p_c = np.array([4, 6]) / total
    expected = {(0, 0): np.log(0.4 / (p_w[0] * p_c[0])), (0, 1): np.log(0.1 / (p_w[0] * p_c[1])),
                (1, 1): np.log(0.5 / (p_w[1] * p_c[1]))}
    positive = {k: val for k, val in expected.items() if val > 0}
    assert dict(zip(zip(r.tolist(), c.tolist(), strict=True), v.tolist(), strict=True)) == pytest.approx(positive)


def test_ppmi_svd_separates_two_topics_and_is_deterministic():
    rng = np.random.default_rng(0)
    topic_a, topic_b = [f"a{i}" for i in range(15)], [f"b{i}" for i in range(15)]
    sentences = [list(rng.choice(topic_a if i % 2 else topic_b, size=8)) for i in range(400)]
    cfg = PPMIConfig(min_count=1, window=3, dim=4)
    vectors = ppmi_svd(sentences, cfg)
    assert len(vectors) == 30 and vectors.vectors.shape == (30, 4)
    v = vectors.vectors / np.linalg.norm(vectors.vectors, axis=1, keepdims=True)
    same = v[vectors.index["a0"]] @ v[vectors.index["a1"]]
    other = v[vectors.index["a0"]] @ v[vectors.index["b0"]]
    assert same > other + 0.3
    np.testing.assert_array_equal(ppmi_svd(sentences, cfg).vectors, vectors.vectors)
    with pytest.raises(ValueError, match="need more than dim"):
        ppmi_svd(sentences, PPMIConfig(min_count=1, dim=40))


TOY = [s.split() for s in ("the cat sat on the mat", "the dog sat on the log", "a cat and a dog met",
                           "the mat and the log")]


def test_ppmi_svd_equals_the_exact_truncated_svd_where_singular_values_are_close():
    """U_d S_d against numpy's exact SVD of the same PPMI matrix, through the Gram matrix (unchanged by the signs
    of the columns). The third and fourth singular values of this toy are close (1.49, 1.32): without
    oversampling, svd_lowrank's third direction had not converged (an error of 0.06)."""
    cfg = PPMIConfig(min_count=1, window=2, dim=3)
    words, _, matrix = ppmi_matrix(TOY, cfg)
    u, s, _ = np.linalg.svd(matrix.to_dense().double().numpy())
    exact = u[:, :3] * s[:3]
    vectors = ppmi_svd(TOY, cfg)
    assert vectors.words == words
    np.testing.assert_allclose(vectors.vectors @ vectors.vectors.T, exact @ exact.T, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(vectors.vectors, axis=0), s[:3], rtol=1e-5)


def test_word_vectors_save_and_load(tmp_path):
    wv = WordVectors(["神", "god"], np.arange(6, dtype=np.float32).reshape(2, 3), np.array([5, 3]))
    wv.save(tmp_path / "v.safetensors", {"lang": "x"})
    back = WordVectors.load(tmp_path / "v.safetensors")
    assert back.words == ["神", "god"] and back.counts.tolist() == [5, 3]
    np.testing.assert_array_equal(back["god"], [3, 4, 5])
    with pytest.raises(ValueError, match="2 words"):
        WordVectors(["a", "b"], np.zeros((3, 2)), np.zeros(2))


TOPICS = [[f"a{i % 15}" for i in range(j, j + 8)] if j % 2 else [f"b{i % 15}" for i in range(j, j + 8)]
          for j in range(200)]


@pytest.fixture
def fake_training(monkeypatch, tmp_path):
    from xlrec_lib.crosslingual import word_vectors

    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(word_vectors, "training_sentences", lambda lang, progress=True: calls.append(lang) or TOPICS)
    return calls


def test_train_word_vectors_builds_once_then_loads(fake_training):
    cfg = PPMIConfig(min_count=1, window=3, dim=4)
    first = train_word_vectors("en", cfg, progress=False)
    again = train_word_vectors("en", cfg, progress=False)
    assert fake_training == ["en"]
    assert again.words == first.words
    np.testing.assert_array_equal(again.vectors, first.vectors)
    assert len({word_vectors_dir("en", cfg), word_vectors_dir("zh", cfg), word_vectors_dir("en", PPMIConfig())}) == 3
    train_word_vectors("en", cfg, use_cache=False, progress=False)
    assert fake_training == ["en", "en"]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_vectors_file_is_named_and_rebuilt(fake_training, damage):
    from xlrec_lib.cache import CacheWarning
    from xlrec_lib.crosslingual.word_vectors import VECTORS_FILE

    cfg = PPMIConfig(min_count=1, window=3, dim=4)
    first = train_word_vectors("en", cfg, progress=False)
    path = word_vectors_dir("en", cfg) / VECTORS_FILE
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-3] ^= 0xFF  # inside the last float of the counts or vectors
    else:
        data = data[:-10]
    path.write_bytes(bytes(data))
    with pytest.warns(CacheWarning, match=VECTORS_FILE):
        again = train_word_vectors("en", cfg, progress=False)
    assert fake_training == ["en", "en"]
    np.testing.assert_array_equal(again.vectors, first.vectors)
    np.testing.assert_array_equal(again.counts, first.counts)


@pytest.mark.parametrize("change", [dict(min_count=0), dict(window=0), dict(window=2.5), dict(dim=0),
                                    dict(niter=0), dict(alpha=-1.0), dict(power=float("nan"))])
def test_ppmi_config_refuses_values_out_of_range(change):
    with pytest.raises(ValueError, match=f"PPMIConfig.{next(iter(change))}"):
        PPMIConfig(**change)
