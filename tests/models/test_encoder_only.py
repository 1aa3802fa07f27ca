"""textae.models.encoder_only: what ELECTRA and the masked LM share."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import make_batch, tiny_model
from textae.models.electra import TextElectraConfig
from textae.models.encoder_only import TextEncoderOnlyConfig, renamed_terms
from textae.models.mlm import TextMLMConfig


def test_the_old_term_name_is_renamed_with_a_warning():
    with pytest.warns(FutureWarning, match="'reconstruction'"):
        assert renamed_terms({"reconstruction": 0.5, "rtd": 3.0}, "x") == {"mlm": 0.5, "rtd": 3.0}
    assert renamed_terms(None, "x") == {}


def test_both_families_share_one_config_and_check_the_mask_rate():
    assert issubclass(TextElectraConfig, TextEncoderOnlyConfig) and issubclass(TextMLMConfig, TextEncoderOnlyConfig)
    own = set(TextElectraConfig.__annotations__)
    assert not own & {"vocab_size", "pad_token_id", "mask_token_id", "max_seq_length", "initializer_range", "encoder_config"}
    with pytest.raises(ValueError, match="mask_rate"):
        TextMLMConfig(mask_rate=1.5)


@pytest.mark.parametrize("family", ["electra", "mlm"])
def test_candidates_are_the_real_non_special_tokens_and_eval_masks_repeat(family, tokenizer, corpus):
    model = tiny_model(family, tokenizer).eval()
    batch = make_batch(model, tokenizer, corpus[:4])
    mask, rng, candidates = model.mask_candidates(batch["input_ids"], batch["attention_mask"])
    ids = batch["input_ids"]
    assert not candidates[~mask.bool()].any() and not torch.isin(ids[candidates], torch.tensor(model.special_ids())).any()
    assert candidates.sum() == mask.sum() - 2 * ids.shape[0]  # all but [BOS] and [EOS]
    again = model.mask_candidates(ids, batch["attention_mask"])[1]
    assert torch.equal(torch.rand(5, generator=rng), torch.rand(5, generator=again))
    assert model.train().mask_candidates(ids, batch["attention_mask"])[1] is None  # training: the global RNG


@pytest.mark.parametrize("family", ["electra", "mlm", "tagger"])
def test_an_encoder_whose_default_pad_id_is_past_a_small_vocabulary_builds_and_trains(family, tokenizer, corpus):
    # ModernBERT's config defaults pad_token_id to 50283: the encoder must take the tokenizer's
    modern = {"model_type": "modernbert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
              "max_position_embeddings": 64, "global_attn_every_n_layers": 1}
    model = tiny_model(family, tokenizer, encoder_config=modern)
    assert model.get_input_embeddings().padding_idx == tokenizer.pad_token_id
    out = model(**make_batch(model, tokenizer, corpus[:4]))
    out.loss.backward()
    assert torch.isfinite(out.loss)
