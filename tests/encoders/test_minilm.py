import pytest
import torch
from torch.testing import assert_close

from xlrec_lib.lm import transformer as T


@pytest.mark.data
def test_minilm_loads_offline_and_our_encoder_reproduces_it():
    from xlrec_lib.encoders.minilm import load_minilm, minilm_folder

    assert (minilm_folder() / "model.safetensors").is_file()
    tokenizer, model = load_minilm()
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    batch = tokenizer(["a short sentence", "a somewhat longer sentence about films"], padding=True,
                      return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True, output_attentions=True)
        hidden, weights = T.run_blocks(T.blocks_from_bert(model), out.hidden_states[0],
                                   T.padding_mask(batch["attention_mask"]))
    real = batch["attention_mask"].bool()
    assert_close(hidden[real], out.last_hidden_state[real], atol=1e-4, rtol=1e-4)
    assert_close(torch.stack(weights), torch.stack(out.attentions), atol=1e-5, rtol=1e-4)
    # a trained model: paraphrases are closer than unrelated sentences (mean-pooled, cosine)
    enc = tokenizer(["a film I loved", "a movie I adored", "the tax form is due"], padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"][..., None]
    e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


@pytest.mark.data
def test_minilm_encoder_keeps_the_protocol():
    from xlrec_lib.encoders.minilm import minilm_encoder

    enc = minilm_encoder()
    out = enc.encode(["a film I loved", "a movie I adored", "the tax form is due"])
    assert out.shape == (3, 384) and out.dtype == torch.float32
    assert_close(out.norm(dim=1), torch.ones(3))
    assert out[0] @ out[1] > out[0] @ out[2] + 0.2
