"""ELECTRA: label construction, the loss weighting, the stop-gradient through the samples, insertion
mode, the HF export that plain transformers fine-tunes, metrics, and runs through the loop and CLI."""

from __future__ import annotations

import doctest
import json
import math
import random

import pytest
import torch
import yaml
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

import textae.metrics.electra as electra_metrics
import textae.models.electra as electra_module
import textae.noise.electra as electra_noise
from tests.conftest import TINY_ENCODER, make_batch, tiny_model
from textae.cli import main
from textae.data import synthetic_dataset, train_tokenizer
from textae.metrics.electra import electra_report, roc_auc
from textae.models import TextMLM
from textae.models.electra import insertable_token_ids
from textae.noise import EMOJI, PUNCTUATION
from textae.noise.electra import INSERTED, ORIGINAL, REPLACED, insert_tokens, replace_and_label, select_masked
from textae.tensors import IGNORE_INDEX
from textae.training import complete_checkpoints, load_recipe, train


def test_docstring_examples():
    for module in (electra_noise, electra_metrics):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0


# ---- label construction ---------------------------------------------------------------------
def _random_batch(seed: int, batch: int = 6, vocab: int = 30):
    rng = random.Random(seed)
    rows = [[2, *(rng.randrange(5, vocab) for _ in range(rng.randrange(1, 12))), 3] for _ in range(batch)]
    width = max(map(len, rows))
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    return ids, (ids != 0).long()


@pytest.mark.parametrize("seed", range(5))
def test_labels_mark_exactly_the_replaced_tokens_and_correct_samples_count_as_original(seed):
    ids, mask = _random_batch(seed)
    candidates = mask.bool() & (ids > 4)
    masked = select_masked(candidates, 0.5, torch.Generator().manual_seed(seed))
    originals = ids[masked]
    # every other sample is the original token (a correct guess), the rest a different token
    samples = torch.where(torch.arange(len(originals)) % 2 == 0, originals, originals % 25 + 31)
    corrupted, labels = replace_and_label(ids, candidates, masked, samples)
    assert torch.equal(corrupted[masked], samples) and torch.equal(corrupted[~masked], ids[~masked])
    assert torch.equal(labels == REPLACED, corrupted != ids)  # replaced ⇔ the token changed
    assert torch.equal(labels == ORIGINAL, candidates & (corrupted == ids))  # correct samples included
    assert torch.equal(labels == IGNORE_INDEX, ~candidates)  # padding and [BOS] / [EOS]
    assert int((labels[masked] == ORIGINAL).sum()) == (len(originals) + 1) // 2


@pytest.mark.parametrize("seed", range(5))
def test_insertion_labels_exactly_the_inserted_tokens_and_keeps_the_rest(seed):
    ids, mask = _random_batch(seed)
    labels = torch.where((ids > 4) & mask.bool(), ORIGINAL, IGNORE_INDEX)
    labels[:, 2] = torch.where(mask[:, 2].bool() & (ids[:, 2] > 4), REPLACED, labels[:, 2])
    new_ids, new_mask, new_labels = insert_tokens(ids, mask, labels, 0.4, [90, 91, 92], pad_id=0, generator=torch.Generator().manual_seed(seed))
    assert new_ids.shape[1] >= ids.shape[1]
    for row in range(ids.shape[0]):
        real = new_mask[row].bool()
        inserted = new_labels[row] == INSERTED
        # removing the inserted tokens gives back the row and its labels exactly
        assert new_ids[row][real & ~inserted].tolist() == ids[row][mask[row].bool()].tolist()
        assert new_labels[row][real & ~inserted].tolist() == labels[row][mask[row].bool()].tolist()
        assert set(new_ids[row][inserted].tolist()) <= {90, 91, 92}
        assert not inserted[0] and torch.equal(new_ids[row][~real], torch.zeros_like(new_ids[row][~real]))
        assert (new_labels[row][~real] == IGNORE_INDEX).all()


def test_insertion_respects_max_length_and_rate_zero_is_the_identity():
    ids, mask = _random_batch(0)
    labels = torch.where(mask.bool(), ORIGINAL, IGNORE_INDEX)
    new_ids, new_mask, _ = insert_tokens(ids, mask, labels, 1.0, [90], pad_id=0, max_length=ids.shape[1] + 2)
    assert int(new_mask.sum(1).max()) <= ids.shape[1] + 2
    assert torch.equal(new_mask.sum(1), torch.minimum(2 * mask.sum(1) - 1, torch.full_like(mask.sum(1), ids.shape[1] + 2)))
    same = insert_tokens(ids, mask, labels, 0.0, [90], pad_id=0)
    assert torch.equal(same[0], ids) and torch.equal(same[2], labels)


def test_draws_do_not_depend_on_padding():
    ids, mask = _random_batch(3)
    padded = torch.cat([mask, torch.zeros(mask.shape[0], 7, dtype=mask.dtype)], 1).bool()
    a = select_masked(mask.bool(), 0.3, torch.Generator().manual_seed(1))
    b = select_masked(padded, 0.3, torch.Generator().manual_seed(1))
    assert torch.equal(a, b[:, : a.shape[1]]) and not b[:, a.shape[1] :].any()


def test_labels_inside_the_model(tokenizer, corpus, monkeypatch):
    """The model wires masks, samples and labels as the functions say: a sample equal to the original is
    'original', the generator reads the masked text, the discriminator the replaced one."""
    model = tiny_model("electra", tokenizer)
    batch = make_batch(model, tokenizer, corpus[:6])
    seen = {}

    def fake_sample(logits, temperature, banned, rng):
        originals = seen["originals"]
        # even masked positions: the original token; odd: a different word
        return torch.where(torch.arange(len(originals)) % 2 == 0, originals, (originals - 4) % (len(tokenizer) - 5) + 5)

    real_select = electra_noise.select_masked

    def spy_select(candidates, rate, rng):
        masked = real_select(candidates, 0.5, rng)
        seen["masked"], seen["originals"] = masked, batch["input_ids"][masked]
        return masked

    monkeypatch.setattr(electra_module, "sample_tokens", fake_sample)
    monkeypatch.setattr(electra_module, "select_masked", spy_select)
    torch.manual_seed(0)
    out = model(**batch)
    ids, masked, labels = batch["input_ids"], seen["masked"], out.rtd_labels
    assert masked.sum() >= 4
    assert torch.equal(out.input_ids[masked], fake_sample(None, 1, (), None))
    assert torch.equal(labels == REPLACED, out.input_ids != ids)
    assert int((labels[masked] == ORIGINAL).sum()) == (int(masked.sum()) + 1) // 2
    assert torch.equal(out.mlm_labels, ids[masked])
    specials = torch.isin(ids, torch.tensor(model.special_ids()))
    assert (labels[specials] == IGNORE_INDEX).all() and not masked[specials].any()


# ---- the loss ---------------------------------------------------------------------------------
def test_the_loss_is_mlm_plus_lambda_times_rtd(tokenizer, corpus):
    model = tiny_model("electra", tokenizer).eval()  # eval mode: the same corruption on every call
    batch = make_batch(model, tokenizer, corpus[:6])
    out = model(**batch)
    mlm, rtd = out.loss_terms["mlm"], out.loss_terms["rtd"]
    assert model.config.loss_weights == {"rtd": 50.0}
    torch.testing.assert_close(out.loss, mlm + 50.0 * rtd)
    torch.testing.assert_close(model(**batch, loss_weights={"rtd": 3.0, "mlm": 0.5}).loss, 0.5 * mlm + 3.0 * rtd)
    torch.testing.assert_close(model(**batch, loss_weights={"rtd": 0.0}).loss, mlm)
    weighted = tiny_model("electra", tokenizer, loss_weights={"rtd": 7.0}).eval()
    out7 = weighted(**batch)
    torch.testing.assert_close(out7.loss, out7.loss_terms["mlm"] + 7.0 * out7.loss_terms["rtd"])
    # the terms are the plain means: MLM over the masked tokens, RTD over the labelled tokens
    valid = out.rtd_labels != IGNORE_INDEX
    torch.testing.assert_close(rtd, torch.nn.functional.cross_entropy(out.logits[valid], out.rtd_labels[valid]))
    torch.testing.assert_close(mlm, torch.nn.functional.cross_entropy(out.mlm_logits, out.mlm_labels))
    with pytest.raises(ValueError, match="unknown term 'kl'"):
        model(**batch, loss_weights={"kl": 1.0})
    with pytest.raises(ValueError, match="unknown terms"):
        tiny_model("electra", tokenizer, loss_weights={"kl": 1.0})


def test_no_gradient_reaches_the_generator_from_the_rtd_loss(tokenizer, corpus):
    model = tiny_model("electra", tokenizer)
    batch = make_batch(model, tokenizer, corpus[:6])
    torch.manual_seed(0)
    model(**batch).loss_terms["rtd"].backward()
    shared = model.get_input_embeddings().weight
    generator_params = [(n, p) for n, p in model.named_parameters() if n.startswith(("generator.", "generator_head.")) and p is not shared]
    assert generator_params
    assert all(p.grad is None or not p.grad.any() for _, p in generator_params)
    assert shared.grad is not None and shared.grad.any()  # the shared embeddings learn from the detector
    assert model.detection_head.out.weight.grad.any()
    # the MLM loss does train the generator
    model.zero_grad()
    torch.manual_seed(0)
    model(**batch).loss_terms["mlm"].backward()
    assert all(p.grad is not None for _, p in generator_params)
    assert model.detection_head.out.weight.grad is None or not model.detection_head.out.weight.grad.any()


def test_generator_is_a_quarter_of_the_discriminator_and_shares_its_embeddings(tokenizer):
    model = tiny_model("electra", tokenizer, encoder_config={**TINY_ENCODER, "hidden_size": 64, "num_attention_heads": 4})
    assert model.generator.config.hidden_size == 16 and model.generator.config.num_attention_heads == 1
    assert model.generator.config.intermediate_size == 16 and model.generator.config.num_hidden_layers == 1
    assert model.generator.get_input_embeddings() is model.encoder.get_input_embeddings()
    half = tiny_model("electra", tokenizer, generator_size=0.5)
    assert half.generator.config.hidden_size == TINY_ENCODER["hidden_size"] // 2


# ---- insertion mode -----------------------------------------------------------------------------
def test_insertable_ids_come_from_the_tokenizer_and_missing_characters_are_added():
    tok = train_tokenizer(["a , b . c ! d ?"] * 5, "wordlevel")
    present = insertable_token_ids(tok, "en")
    assert sorted(tok.convert_ids_to_tokens(present)) == sorted(",.!?")
    before = len(tok)
    ids = insertable_token_ids(tok, "en", add_missing=True)
    added = len(PUNCTUATION["en"]) - 4 + len(EMOJI) + 1  # ; and :, the emoji, the zero-width space
    assert len(tok) == before + added and len(ids) == len(present) + added
    assert tok("a 😀 b", add_special_tokens=False)["input_ids"][1] in ids


def test_insertion_mode_labels_three_classes(corpus):
    tok = train_tokenizer(corpus, "wordlevel")
    ids = insertable_token_ids(tok, "en", add_missing=True)
    model = tiny_model("electra", tok, insertion_rate=0.3, insertion_token_ids=ids)
    assert model.detection_head.out.out_features == 3
    batch = make_batch(model, tok, corpus[:8])
    torch.manual_seed(0)
    out = model(**batch)
    inserted = out.rtd_labels == INSERTED
    assert inserted.any() and (out.rtd_labels == REPLACED).any()
    assert set(out.input_ids[inserted].tolist()) <= set(ids)
    assert out.input_ids.shape[1] > batch["input_ids"].shape[1] or inserted.sum() == 0
    assert {"accuracy_original", "accuracy_replaced", "accuracy_inserted", "rtd_auc"} <= set(out.stats)
    report = electra_report(model, [batch, batch])
    assert report["tokens_inserted"] > 0 and 0 <= report["accuracy_inserted"] <= 1 and 0 <= report["auc_inserted"] <= 1
    with pytest.raises(ValueError, match="needs insertion_token_ids"):
        tiny_model("electra", tok, insertion_rate=0.3)


# ---- metrics ------------------------------------------------------------------------------------
def test_roc_auc_matches_the_pairwise_definition():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 6, (200,), generator=gen).float()  # many ties
    positive = torch.rand(200, generator=gen) < 0.3
    pos, neg = scores[positive], scores[~positive]
    pairs = (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
    assert roc_auc(scores, positive) == pytest.approx(pairs.mean().item(), abs=1e-12)
    assert math.isnan(roc_auc(torch.tensor([0.1, 0.2]), torch.tensor([True, True])))  # one class only


def test_report_and_eval_are_repeatable(tokenizer, corpus):
    model = tiny_model("electra", tokenizer)
    batches = [make_batch(model, tokenizer, corpus[i : i + 8]) for i in (0, 8)]
    first, second = electra_report(model, batches), electra_report(model, batches)
    assert first == second and model.training  # the report restores train mode
    assert {"rtd_accuracy", "rtd_auc", "mlm_accuracy", "accuracy_original", "accuracy_replaced", "replaced_share"} <= set(first)
    assert 0 <= first["rtd_auc"] <= 1 and first["tokens_original"] + first["tokens_replaced"] == first["tokens"]


# ---- export: plain transformers fine-tunes it ---------------------------------------------------------
@pytest.mark.parametrize("family", ["electra", "mlm"])
def test_export_fine_tunes_in_plain_transformers(tokenizer, corpus, tmp_path, family):
    model = tiny_model(family, tokenizer).eval()
    out = model.export_hf_encoder(tmp_path / "hf")
    tok = AutoTokenizer.from_pretrained(out)
    encoded = tok(corpus[:2], padding=True, return_tensors="pt")
    assert encoded["input_ids"][0, 0] == tokenizer.bos_token_id  # [BOS] x [EOS], as in pretraining
    features = AutoModel.from_pretrained(out).eval()
    with torch.no_grad():
        ours = model.encoder(encoded["input_ids"], encoded["attention_mask"]).states
        torch.testing.assert_close(features(**encoded).last_hidden_state, ours)
    torch.manual_seed(0)  # the new classification head
    clf = AutoModelForSequenceClassification.from_pretrained(out, num_labels=2)
    torch.testing.assert_close(clf.base_model.embeddings.word_embeddings.weight, model.get_input_embeddings().weight)
    texts, labels = corpus[:16], torch.tensor([i % 2 for i in range(16)])
    batch = tok(texts, padding=True, return_tensors="pt")
    optimizer = torch.optim.AdamW(clf.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = clf(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]  # plain transformers fits the exported encoder's features


def test_the_mlm_family_has_one_term_and_no_generator(tokenizer, corpus):
    model = tiny_model("mlm", tokenizer)
    assert not hasattr(model, "generator") and model.loss_term_names() == {"mlm"}
    out = model(**make_batch(model, tokenizer, corpus[:6]))
    assert set(out.loss_terms) == {"mlm"} and out.logits.shape == (len(out.labels), len(tokenizer))
    torch.testing.assert_close(out.loss_terms["mlm"], torch.nn.functional.cross_entropy(out.logits, out.labels))


def test_the_old_mlm_objective_builds_the_mlm_family_with_a_warning(tokenizer, corpus):
    with pytest.warns(FutureWarning, match="family 'mlm'"):
        model = tiny_model("electra", tokenizer, objective="mlm", loss_weights={"reconstruction": 2.0})
    assert type(model) is TextMLM and model.resolved_loss_weights() == {"mlm": 2.0}
    torch.manual_seed(0)
    new = tiny_model("mlm", tokenizer, loss_weights={"mlm": 2.0}).eval()
    batch = make_batch(new, tokenizer, corpus[:6])
    torch.testing.assert_close(model.eval()(**batch).loss, new(**batch).loss)  # same weights, same masks
    with pytest.raises(ValueError, match="needs objective 'electra'"):
        tiny_model("electra", tokenizer, objective="mlm", insertion_rate=0.1, insertion_token_ids=[5])


def test_the_old_reconstruction_weight_is_the_generators_mlm_term(tokenizer, corpus):
    with pytest.warns(FutureWarning, match="now called 'mlm'"):
        model = tiny_model("electra", tokenizer, loss_weights={"reconstruction": 0.5})
    assert model.resolved_loss_weights() == {"mlm": 0.5, "rtd": 50.0}
    with pytest.warns(FutureWarning, match="now called 'mlm'"):
        assert model.resolved_loss_weights({"reconstruction": 2.0}) == {"mlm": 2.0, "rtd": 50.0}


# ---- the loop and the CLI -------------------------------------------------------------------------
def _recipe(root, **model):
    return {
        "model": {"family": "electra", "encoder_config": TINY_ENCODER, **model},
        "data": {"source": "synthetic", "synthetic_train_size": 128, "synthetic_eval_size": 24, "max_seq_length": 24},
        "train": {"max_steps": 4, "batch_size": 16, "eval_batch_size": 12, "warmup_steps": 1, "eval_every": 2, "save_every": 0, "log_every": 2, "output_dir": str(root / "run")},
    }


def test_cli_train_eval_and_export(tmp_path, capsys):
    path = tmp_path / "electra.yaml"
    path.write_text("# textae train electra.yaml\n" + yaml.safe_dump(_recipe(tmp_path, insertion_rate=0.2)))
    assert main(["train", str(path)]) == 0
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"rtd_accuracy", "rtd_auc", "mlm_accuracy", "accuracy_inserted"} <= set(metrics["electra"])
    assert "rtd_accuracy" in metrics["eval"] and "ppl" not in metrics["eval"]
    logged = set().union(*(json.loads(x) for x in (run / "logs" / "metrics.jsonl").read_text().splitlines()))
    assert {"train/loss_rtd", "train/loss_mlm", "train/rtd_accuracy", "train/rtd_auc", "train/accuracy_inserted", "eval/rtd_accuracy"} <= logged
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    evaluated = json.loads((run / "eval.json").read_text())
    assert evaluated["electra"]["tokens_inserted"] > 0 and "samples" not in evaluated
    assert main(["export", str(run), "--hf-encoder", str(tmp_path / "hf")]) == 0
    assert "AutoModelForSequenceClassification" in capsys.readouterr().out
    clf = AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf", num_labels=2)
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert clf(**tok(["i loved the pizza ."], return_tensors="pt")).logits.shape == (1, 2)


def test_resume_is_exact_for_electra(tmp_path):
    def recipe(root, *overrides):
        return load_recipe(None, [f"train.output_dir={root}", "train.max_steps=6", "train.save_every=3", "train.eval_every=0", *overrides], base=_recipe(tmp_path))

    full = train(recipe(tmp_path / "full")).model
    train(recipe(tmp_path / "cut"), stop_after_step=3)
    assert [p.name for p in complete_checkpoints(tmp_path / "cut")] == ["step_00000003"]
    resumed = train(recipe(tmp_path / "cut"), resume=True).model
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name


def test_the_old_labels_name_of_the_rtd_targets_still_reads_with_a_warning(tokenizer, corpus):
    model = tiny_model("electra", tokenizer)
    out = model(**make_batch(model, tokenizer, corpus[:4]))
    with pytest.warns(FutureWarning, match="labels is now rtd_labels"):
        assert torch.equal(out.labels, out.rtd_labels)
    assert "labels" not in out.keys() and "rtd_labels" in out.keys()
