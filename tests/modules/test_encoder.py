"""The sentence encoder: any HF encoder, pooling that ignores padding, corruptions that act only while training."""

import pytest
import torch
from transformers import BertConfig

from tests.conftest import TINY_ENCODER
from textae.modules import Pooling, SentenceEncoder
from textae.modules.encoder import encoder_config_from_dict


def test_pooling_ignores_padding():
    states = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert Pooling("mean", 2)(states, mask).tolist() == [[2.0, 2.0]]
    assert Pooling("cls", 2)(states, mask).tolist() == [[1.0, 1.0]]
    att = Pooling("attention", 2)
    pooled = att(states, mask)
    assert 1.0 <= pooled[0, 0].item() <= 3.0  # a convex mix of the real tokens only
    with pytest.raises(ValueError, match="unknown pooling"):
        Pooling("max", 2)


def test_mean_pooling_of_an_all_padding_row_is_zero_not_nan():
    pooled = Pooling("mean", 2)(torch.ones(1, 3, 2), torch.zeros(1, 3))
    assert pooled.tolist() == [[0.0, 0.0]]


def test_a_config_dict_becomes_that_transformers_config_and_needs_a_model_type():
    config = encoder_config_from_dict(TINY_ENCODER)
    assert isinstance(config, BertConfig) and config.hidden_size == 32 and "model_type" in TINY_ENCODER  # the dict is not consumed
    assert encoder_config_from_dict(config) is config
    with pytest.raises(ValueError, match=r"needs a 'model_type' key, got keys \['hidden_size'\]"):
        encoder_config_from_dict({"hidden_size": 8})


def test_the_encoder_states_and_pooled_vector_have_the_documented_shapes():
    torch.manual_seed(0)
    enc = SentenceEncoder(TINY_ENCODER).eval()
    ids, mask = torch.randint(5, 50, (2, 6)), torch.tensor([[1] * 6, [1] * 3 + [0] * 3])
    out = enc(ids, mask)
    assert out.states.shape == (2, 6, 32) and out.pooled.shape == (2, 32) and out.mask is mask
    torch.testing.assert_close(out.pooled, enc.pooling(out.states, mask))
    assert enc.model.pooler is None  # an unused pooler would leave parameters without gradients


def test_corruptions_act_only_while_training_and_bad_settings_are_named():
    torch.manual_seed(0)
    enc = SentenceEncoder(TINY_ENCODER, embedding_noise=0.5, state_dropout=0.5)
    ids, mask = torch.randint(5, 50, (2, 6)), torch.ones(2, 6, dtype=torch.long)
    enc.eval()
    assert torch.equal(enc(ids, mask).pooled, enc(ids, mask).pooled)
    enc.train()
    assert not torch.equal(enc(ids, mask).states, enc(ids, mask).states)
    with pytest.raises(ValueError, match=r"unknown latent dropout kind 'gaussian'; choose one of \['spatial', 'standard'\]"):
        SentenceEncoder(TINY_ENCODER, state_dropout_kind="gaussian")
    with pytest.raises(ValueError, match="embedding_noise must be ≥ 0, got -0.1"):
        SentenceEncoder(TINY_ENCODER, embedding_noise=-0.1)
