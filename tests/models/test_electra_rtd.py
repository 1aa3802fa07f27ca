"""Replaced-token detection learns: the labels line up with the exact ids the discriminator reads, it
reads them with a mask that shows it the whole sentence, with uniform replacements it rises well
above chance within a few dozen steps, and where only the context tells a replacement it learns the
context instead of collapsing onto the base rate."""

from __future__ import annotations

import pytest
import torch

import textae.models.electra as electra_module
from tests.conftest import TINY_ENCODER, make_batch, tiny_model
from textae.metrics.electra import electra_report, roc_auc
from textae.models.electra import TextElectra, TextElectraConfig, rtd_class_priors
from textae.noise.electra import ORIGINAL, REPLACED, uniform_tokens
from textae.tensors import IGNORE_INDEX


def _spy_encoder(model, seen: dict):
    """Records the ids and attention mask the discriminator's HF encoder is called with."""
    real_forward = model.encoder.model.forward

    def forward(*args, **kwargs):
        seen["input_ids"], seen["attention_mask"] = kwargs["input_ids"].clone(), kwargs["attention_mask"].clone()
        return real_forward(*args, **kwargs)

    model.encoder.model.forward = forward


def test_labels_line_up_with_the_ids_the_discriminator_reads(tokenizer, corpus, monkeypatch):
    model = tiny_model("electra", tokenizer).eval()
    texts = [corpus[1], corpus[0]]
    batch = make_batch(model, tokenizer, texts)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    words = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    # the template, written out by hand: [BOS] x [EOS] then padding, mask 1 over exactly those tokens
    width = max(len(w) for w in words) + 2
    expected = torch.tensor([[bos, *w, eos] + [pad] * (width - len(w) - 2) for w in words])
    assert torch.equal(ids, expected) and torch.equal(mask, (expected != pad).long())

    chosen = torch.zeros_like(ids, dtype=torch.bool)
    chosen[0, 2] = chosen[0, 5] = chosen[1, 1] = True
    other = lambda i: (int(i) - 4) % (len(tokenizer) - 5) + 5  # another word than token i  # noqa: E731
    samples = torch.tensor([other(ids[0, 2]), ids[0, 5], other(ids[1, 1])])  # the middle one: the original itself
    monkeypatch.setattr(electra_module, "select_masked", lambda candidates, rate, rng: chosen & candidates)
    monkeypatch.setattr(electra_module, "sample_tokens", lambda logits, temperature, banned, rng: samples)
    seen = {}
    _spy_encoder(model, seen)
    out = model(**batch)

    read = seen["input_ids"]
    clean_pos = ~chosen
    assert torch.equal(read, out.input_ids)  # what the output reports is what the encoder read
    assert torch.equal(read[clean_pos], ids[clean_pos]) and torch.equal(read[chosen], samples)
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[mask.bool()] = ORIGINAL
    labels[:, 0] = IGNORE_INDEX  # [BOS]
    labels[torch.arange(2), mask.sum(1) - 1] = IGNORE_INDEX  # [EOS]
    labels[0, 2] = labels[1, 1] = REPLACED  # changed; (0, 5) drew its own token: original
    assert torch.equal(out.rtd_labels, labels)
    # the discriminator's logits are per position of what it read, no shift
    assert out.logits.shape[:2] == read.shape
    # its attention mask shows it every real token of its row, and nothing of the padding
    assert torch.equal(seen["attention_mask"], mask)


def test_the_discriminator_sees_the_context_and_not_the_padding(tokenizer, corpus):
    model = tiny_model("electra", tokenizer).eval()
    batch = make_batch(model, tokenizer, [corpus[1], corpus[0]])
    ids, mask = batch["input_ids"], batch["attention_mask"]
    states = model.encoder(ids, mask).states
    changed = ids.clone()
    changed[0, 4] = (ids[0, 4] - 4) % (len(tokenizer) - 5) + 5  # another word, away from position 1
    assert not torch.allclose(model.encoder(changed, mask).states[0, 1], states[0, 1])
    padded = ids.clone()
    padded[1, -1] = ids[0, 2]  # under the padding mask
    torch.testing.assert_close(model.encoder(padded, mask).states[1, : int(mask[1].sum())], states[1, : int(mask[1].sum())])


def test_uniform_tokens_avoid_the_banned_ids():
    draws = uniform_tokens(2000, 12, banned_ids=[0, 2, 3, 4], generator=torch.Generator().manual_seed(0))
    assert set(draws.tolist()) == {1, 5, 6, 7, 8, 9, 10, 11}
    with pytest.raises(ValueError, match="non-special"):
        uniform_tokens(3, 2, banned_ids=[0, 1])


def test_uniform_replacement_has_no_generator_and_one_term(tokenizer, corpus):
    model = tiny_model("electra", tokenizer, replacement="uniform")
    assert not hasattr(model, "generator") and model.loss_term_names() == {"rtd"}
    out = model(**make_batch(model, tokenizer, corpus[:8]))
    assert set(out.loss_terms) == {"rtd"} and out.mlm_logits is None
    torch.testing.assert_close(out.loss, 50.0 * out.loss_terms["rtd"])
    with pytest.raises(ValueError, match="replacement must be one of"):
        tiny_model("electra", tokenizer, replacement="gaussian")


def test_with_uniform_replacements_detection_rises_well_above_chance(tokenizer, corpus):
    torch.manual_seed(0)
    model = tiny_model("electra", tokenizer, replacement="uniform", encoder_config={**TINY_ENCODER, "hidden_size": 64})
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    held_out = [make_batch(model, tokenizer, corpus[250 + 25 * i : 275 + 25 * i]) for i in range(2)]
    before = electra_report(model, held_out)["rtd_auc"]
    model.train()
    for step in range(40):
        batch = make_batch(model, tokenizer, corpus[(step * 25) % 250 : (step * 25) % 250 + 25])
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    after = electra_report(model, held_out)["rtd_auc"]
    assert abs(before - 0.5) < 0.15 and after > 0.8, (before, after)


def test_shared_embeddings_all_ties_the_whole_embedding_block(tokenizer, tmp_path):
    model = tiny_model("electra", tokenizer, shared_embeddings="all")
    disc, gen = model.encoder.model.embeddings, model.generator.embeddings
    assert gen.position_embeddings.weight is disc.position_embeddings.weight and gen.LayerNorm.weight is disc.LayerNorm.weight
    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path)
    assert loaded.generator.embeddings.position_embeddings.weight is loaded.encoder.model.embeddings.position_embeddings.weight
    torch.testing.assert_close(loaded.encoder.model.embeddings.position_embeddings.weight, disc.position_embeddings.weight)
    word = tiny_model("electra", tokenizer)
    assert word.generator.embeddings.position_embeddings.weight is not word.encoder.model.embeddings.position_embeddings.weight


def test_the_detection_head_starts_at_the_class_priors(tokenizer, tmp_path):
    model = tiny_model("electra", tokenizer)
    bias = model.detection_head.out.bias.detach()
    torch.testing.assert_close(bias.softmax(-1), torch.tensor([0.85, 0.15]))
    inserting = TextElectraConfig(vocab_size=50, insertion_rate=0.25, insertion_token_ids=[7], encoder_config=TINY_ENCODER)
    torch.testing.assert_close(rtd_class_priors(inserting), torch.tensor([0.68, 0.12, 0.2]))
    assert TextElectra(inserting).detection_head.out.bias.softmax(-1).argmax() == ORIGINAL
    assert not tiny_model("electra", tokenizer, head_bias_init="zero").detection_head.out.bias.any()
    with pytest.raises(ValueError, match="head_bias_init must be one of"):
        tiny_model("electra", tokenizer, head_bias_init="uniform")
    with torch.no_grad():  # a trained bias is what loading gives back, not the prior again
        model.detection_head.out.bias.copy_(torch.tensor([0.3, -0.7]))
    model.save_pretrained(tmp_path)
    torch.testing.assert_close(type(model).from_pretrained(tmp_path).detection_head.out.bias, torch.tensor([0.3, -0.7]))


def _chain_batch(successor: torch.Tensor, rows: int, length: int, generator: torch.Generator):
    """Rows of a language where each token fixes the next (``successor``), every id equally frequent:
    token identity says nothing about a replacement, its neighbours say everything."""
    x = [torch.randint(5, 5 + successor.numel(), (rows,), generator=generator)]
    for _ in range(length - 1):
        x.append(successor[x[-1] - 5])
    ids = torch.cat([torch.full((rows, 1), 2), torch.stack(x, 1), torch.full((rows, 1), 3)], 1)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def test_where_only_the_context_tells_a_replacement_the_discriminator_learns_it(head_bias_init="prior"):
    """Uniform replacements in the chain language: the context-free baseline is AUC 0.5 by
    construction. With the head starting at the priors (the default) the discriminator passes 0.7
    within 300 steps and the states of different positions stay apart (mean cosine < 0.7). From a
    zero bias (``head_bias_init="zero"``) the same run collapses: AUC 0.52, cosine 0.99."""
    torch.manual_seed(0)
    encoder = {**TINY_ENCODER, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256}
    model = TextElectra(TextElectraConfig(vocab_size=64, replacement="uniform", encoder_config=encoder, head_bias_init=head_bias_init))
    successor = torch.randperm(59, generator=torch.Generator().manual_seed(0)) + 5
    steps, warmup = 300, 15
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "norm" not in n.lower()]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "norm" not in n.lower())]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=1e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warmup, (steps - s) / (steps - warmup)))
    data = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):  # the training loop's optimizer: AdamW, no decay on norms / biases, clip 1, linear
        model(**_chain_batch(successor, 32, 16, data)).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        batch = _chain_batch(successor, 256, 16, torch.Generator().manual_seed(99))
        out = model(**batch)
        valid = out.rtd_labels != IGNORE_INDEX
        auc = roc_auc(out.logits.float().softmax(-1)[..., REPLACED][valid], out.rtd_labels[valid] == REPLACED)
        states = torch.nn.functional.normalize(model.encoder(**batch).states, dim=-1)
        cosine = (states @ states.transpose(1, 2))[:, ~torch.eye(18, dtype=torch.bool)].mean()
    assert auc > 0.7 and cosine < 0.7, (auc, float(cosine))
