"""One rule gives every loss term its weight, whatever the family."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import textae
from tests.conftest import make_batch, tiny_model
from textae.models.losses import cosine_distance, resolve_loss_weights, token_cross_entropy, weighted_sum

# each family's effective default weights, as they were when each family resolved them its own way
DEFAULTS = {
    "ae": {"reconstruction": 1.0, "consistency": 0.0},
    "dae": {"reconstruction": 1.0, "consistency": 0.0, "anchor": 0.0, "contrastive": 0.0, "word_consistency": 0.0},
    "vae": {"reconstruction": 1.0, "consistency": 0.0, "kl": 1.0},
    "cvae": {"reconstruction": 1.0, "consistency": 0.0, "kl": 1.0, "label": 1.0},
    "vq": {"reconstruction": 1.0, "consistency": 0.0, "codebook": 1.0, "commitment": 0.25},
    "lm": {"reconstruction": 1.0},
    "electra": {"mlm": 1.0, "rtd": 50.0},
    "mlm": {"mlm": 1.0},
    "tagger": {"tagging": 1.0},
}


def test_a_step_weight_beats_the_config_which_beats_the_family_default():
    defaults = {"reconstruction": 1.0, "consistency": 0.0, "kl": 1.0}
    assert resolve_loss_weights(defaults, {"kl": 0.5, "consistency": 0.1}, {"kl": 0.0}) == {"reconstruction": 1.0, "consistency": 0.1, "kl": 0.0}


def test_a_step_weight_of_an_unknown_term_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown term 'klx'.*'kl'"):
        resolve_loss_weights({"reconstruction": 1.0, "kl": 1.0}, None, {"klx": 1.0})


def test_a_computed_term_without_a_declared_weight_is_an_error():
    with pytest.raises(ValueError, match="'extra' has no weight"):
        weighted_sum({"extra": torch.tensor(1.0)}, {"reconstruction": 1.0})


def test_the_weighted_sum_weighs_each_computed_term():
    terms = {"reconstruction": torch.tensor(2.0), "kl": torch.tensor(3.0)}
    assert weighted_sum(terms, {"reconstruction": 1.0, "kl": 0.5, "consistency": 0.0}).item() == 3.5


@pytest.mark.parametrize("family", sorted(textae.FAMILIES))
def test_every_family_keeps_its_effective_default_weights(family, tokenizer):
    model = tiny_model(family, tokenizer)
    assert model.resolved_loss_weights() == DEFAULTS[family]
    assert model.loss_term_names() == set(DEFAULTS[family])


@pytest.mark.parametrize("family", sorted(textae.FAMILIES))
def test_the_loss_is_the_resolved_weighted_sum_of_the_terms(family, tokenizer, corpus):
    model = tiny_model(family, tokenizer).eval()
    # the tagger has no token-reconstruction term (the encoder-only families read it as their old name of mlm)
    step = {"tagging": 2.0} if family == "tagger" else {"reconstruction": 2.0}
    with torch.no_grad():
        out = model(**make_batch(model, tokenizer, corpus[:4]), loss_weights=step)
    weights = model.resolved_loss_weights(step)
    torch.testing.assert_close(out.loss, sum(weights[k] * v for k, v in out.loss_terms.items()))


def test_token_cross_entropy_ignores_padding_and_cosine_distance_of_equal_vectors_is_zero():
    logits = torch.zeros(1, 3, 4)
    nll = token_cross_entropy(logits, torch.tensor([[1, 2, -100]]))
    torch.testing.assert_close(nll, torch.tensor([[torch.log(torch.tensor(4.0)).item()] * 2 + [0.0]]))
    a = torch.randn(3, 5)
    assert cosine_distance(a, 2 * a).abs().item() < 1e-6
    assert cosine_distance(a, -a).item() == pytest.approx(2.0)


def test_word_vectors_average_each_words_tokens_and_the_word_distance_trains_the_student_only():
    from textae.models.losses import word_cosine_distance, word_vectors

    states = torch.randn(2, 5, 4, requires_grad=True)
    words = torch.tensor([[-1, 0, 0, 1, -1], [-1, 0, 1, 2, -1]])
    vectors, counts = word_vectors(states, words, 3)
    assert counts.tolist() == [[2, 1, 0], [1, 1, 1]]
    torch.testing.assert_close(vectors[0, 0], states[0, 1:3].mean(0))
    torch.testing.assert_close(vectors[1, 2], states[1, 3])
    assert word_cosine_distance(states, words, states.detach(), words).item() == pytest.approx(0.0, abs=1e-6)
    target = torch.randn(2, 4, 4, requires_grad=True)
    target_words = torch.tensor([[-1, 0, 1, -1], [-1, 0, 1, -1]])  # row 1's word 2 is on one side only
    loss = word_cosine_distance(states, words, target, target_words)
    manual = torch.stack([
        1 - F.cosine_similarity(states[0, 1:3].mean(0), target[0, 1], dim=0),
        1 - F.cosine_similarity(states[0, 3], target[0, 2], dim=0),
        1 - F.cosine_similarity(states[1, 1], target[1, 1], dim=0),
        1 - F.cosine_similarity(states[1, 2], target[1, 2], dim=0),
    ]).mean()
    torch.testing.assert_close(loss, manual)
    loss.backward()
    assert target.grad is None and states.grad[1, 3].abs().sum() == 0 and states.grad[0, 1].abs().sum() > 0
