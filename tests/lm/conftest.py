"""Toy fixtures shared by the tests of the efficient-fine-tuning modules: a 2-layer BERT of width 16 and a task
it learns in a few dozen steps (label 1 = the sequence contains token 5)."""

import pytest
import torch
from transformers import BertConfig, BertModel

VOCAB = 30


def toy_rows(n: int, seed: int):
    from datasets import Dataset

    g = torch.Generator().manual_seed(seed)
    ids, labels = [], []
    for _ in range(n):
        length = int(torch.randint(4, 12, (1,), generator=g))
        row = torch.randint(6, VOCAB, (length,), generator=g)
        y = int(torch.randint(0, 2, (1,), generator=g))
        if y:
            row[int(torch.randint(1, length, (1,), generator=g))] = 5
        ids.append([2, *row.tolist()])
        labels.append(y)
    return Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(r) for r in ids], "labels": labels,
                              "length": [len(r) for r in ids]})


@pytest.fixture(scope="module")
def toy_data():
    return {"train": toy_rows(256, 0), "valid": toy_rows(64, 1)}


@pytest.fixture(scope="module")
def toy_encoder():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, pad_token_id=0)
    return BertModel(config, add_pooling_layer=False).eval()
