"""The accelerate loop end to end, on tiny models and the synthetic corpus."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel

from tests.conftest import REPO, TINY_DECODER, TINY_ENCODER, fresh_accelerator, tiny_model
from textae.training import complete_checkpoints, load_recipe, train

TINY = {
    "model": {"family": "ae", "latent_dim": 16, "memory_slots": 2, "encoder_config": TINY_ENCODER, "decoder_config": TINY_DECODER},
    "data": {"source": "synthetic", "synthetic_train_size": 256, "synthetic_eval_size": 32, "max_seq_length": 24},
    "train": {"max_steps": 12, "batch_size": 16, "eval_batch_size": 32, "warmup_steps": 2, "eval_every": 6, "save_every": 4, "log_every": 2, "keep_checkpoints": 5, "show_reconstructions": 2},
}


def tiny_recipe(tmp_path, *overrides, family="ae"):
    base = json.loads(json.dumps(TINY))
    base["model"]["family"] = family
    if family == "lm":
        base["model"] = {"family": "lm", "decoder_config": TINY_DECODER}
    return load_recipe(None, [f"train.output_dir={tmp_path}", *overrides], base=base)


def test_a_run_writes_model_card_metrics_and_logs(tmp_path):
    result = train(tiny_recipe(tmp_path))
    run = result.run_dir
    assert (run / "model" / "model.safetensors").exists() and (run / "model" / "tokenizer.json").exists()
    card = (run / "model" / "README.md").read_text()
    assert "AutoModel.from_pretrained" in card and "reconstruction exact match" in card
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["eval"]["sentences"] == 32 and 0 <= metrics["reconstruction"]["exact_match"] <= 1
    assert "exact_reference" not in metrics
    lines = [json.loads(x) for x in (run / "logs" / "metrics.jsonl").read_text().splitlines()]
    logged = set().union(*lines)
    assert {"train/loss", "train/loss_reconstruction", "train/lr", "train/grad_norm", "train/tokens_per_second", "eval/ppl"} <= logged
    assert [p.name for p in complete_checkpoints(run)] == ["step_00000004", "step_00000008", "step_00000012"]
    assert not list((run / "checkpoints").glob(".tmp_*"))
    model = AutoModel.from_pretrained(run / "model")
    assert type(model).__name__ == "TextAE"


def test_the_lm_family_trains_through_the_same_loop(tmp_path):
    result = train(tiny_recipe(tmp_path, "train.max_steps=4", "train.save_every=0", "train.eval_every=0", family="lm"))
    assert result.metrics["eval"]["ppl"] > 1 and "reconstruction" not in result.metrics
    # the LM's NLL is set against the grammar's exact NLL; an autoencoder's (conditioned on x) is not
    assert result.metrics["exact_reference"]["exact_nll_per_sentence"] > 0


def test_resume_from_the_last_checkpoint_matches_an_uninterrupted_run(tmp_path):
    full = train(tiny_recipe(tmp_path / "full", "train.max_steps=10", "train.save_every=3")).model
    first = train(tiny_recipe(tmp_path / "cut", "train.max_steps=10", "train.save_every=3"), stop_after_step=7)
    assert first.model_dir is None
    assert [p.name for p in complete_checkpoints(tmp_path / "cut")][-1] == "step_00000006"
    resumed = train(tiny_recipe(tmp_path / "cut", "train.max_steps=10", "train.save_every=3"), resume=True).model
    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_gradient_accumulation_and_bf16_run(tmp_path):
    result = train(tiny_recipe(tmp_path, "train.max_steps=3", "train.gradient_accumulation_steps=2", "train.bf16=true", "train.save_every=0", "train.eval_every=0"))
    assert torch.isfinite(torch.tensor(result.metrics["eval"]["loss"]))


def test_transformers_trainer_trains_a_textae_with_no_textae_loop(tmp_path, tokenizer, corpus):
    from transformers import Trainer, TrainingArguments

    import datasets
    from tests.conftest import tiny_model
    from textae.data import TextAECollator, encode_texts

    model = tiny_model("ae", tokenizer)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ds = datasets.Dataset.from_dict({"input_ids": encode_texts(tokenizer, list(corpus[:64]), 32)})
    collator = TextAECollator(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=5, per_device_train_batch_size=16, learning_rate=3e-3, report_to=[], use_cpu=True, save_strategy="no", logging_steps=1)
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)
    output = trainer.train()
    assert output.global_step == 5 and torch.isfinite(torch.tensor(output.training_loss))
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) > 0.9 * len(before)


DDP_SCRIPT = textwrap.dedent(
    """
    import os, sys, json
    from safetensors.torch import save_file
    from textae.training import load_recipe, train
    from tests.training.test_loop import TINY
    base = json.loads(json.dumps(TINY))
    recipe = load_recipe(None, sys.argv[1:], base=base)
    result = train(recipe)
    rank = int(os.environ["RANK"])
    state = {k: v.contiguous() for k, v in result.model.state_dict().items() if k != "decoder.lm.lm_head.weight"}
    save_file(state, os.path.join(recipe.train.output_dir, f"rank{rank}.safetensors"))
    print(f"rank {rank} of {os.environ['WORLD_SIZE']} done", flush=True)
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(0)
    """
)


@pytest.mark.integration
def test_two_process_ddp_run_ends_with_identical_parameters(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", str(script),
        f"train.output_dir={tmp_path / 'run'}", "train.cpu=true", "train.max_steps=6", "train.save_every=0", "train.eval_every=3",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank 0 of 2 done" in proc.stdout and "rank 1 of 2 done" in proc.stdout
    a = load_file(tmp_path / "run" / "rank0.safetensors")
    b = load_file(tmp_path / "run" / "rank1.safetensors")
    assert a.keys() == b.keys() and len(a) > 10
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_streaming_corpus_trains_without_loading_it(tmp_path):
    result = train(tiny_recipe(tmp_path, "data.streaming=true", "train.max_steps=20", "train.save_every=0", "train.eval_every=0"))
    # 256 training sentences at batch 16 are 16 batches: step 20 means the stream was read again
    assert result.metrics["throughput"]["steps"] == 20
    assert result.metrics["eval"]["sentences"] == 32


def _corrupt_losses(monkeypatch, corrupt):
    """While training, replaces the loss of forward call n (1-based) by ``corrupt(n, loss)``."""
    from textae.models.base import TextAutoencoderModel

    original = TextAutoencoderModel.combine_losses
    calls = {"n": 0}

    def combine(self, terms, loss_weights):
        loss = original(self, terms, loss_weights)
        if self.training:
            calls["n"] += 1
            return corrupt(calls["n"], loss)
        return loss

    monkeypatch.setattr(TextAutoencoderModel, "combine_losses", combine)


def _nan_on_calls(monkeypatch, bad_calls):
    """Makes the loss NaN on the given forward calls (1-based) while training."""
    _corrupt_losses(monkeypatch, lambda n, loss: loss * float("nan") if n in bad_calls else loss)


def test_a_nan_loss_skips_the_update_and_is_counted(tmp_path, monkeypatch):
    _nan_on_calls(monkeypatch, {3, 4})
    result = train(tiny_recipe(tmp_path, "train.max_steps=6", "train.log_every=1", "train.save_every=0", "train.eval_every=0"))
    lines = [json.loads(x) for x in (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()]
    skipped = [row["train/skipped_nonfinite_updates"] for row in lines if "train/skipped_nonfinite_updates" in row]
    assert skipped == [1, 2]
    assert result.metrics["throughput"]["steps"] == 6  # two skipped updates do not count as steps
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_too_many_nan_updates_in_a_row_stop_with_the_last_checkpoint_intact(tmp_path, monkeypatch):
    from textae.training.loop import NonFiniteLossError

    _nan_on_calls(monkeypatch, set(range(5, 100)))
    settings = ["train.max_steps=12", "train.save_every=2", "train.eval_every=0", "train.max_nonfinite_steps=3"]
    with pytest.raises(NonFiniteLossError, match=r"3 updates in a row .* last good checkpoint is .*step_00000004"):
        train(tiny_recipe(tmp_path, *settings))
    last = complete_checkpoints(tmp_path)[-1]
    weights = load_file(last / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in weights.values())
    lines = [json.loads(x) for x in (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["train/skipped_nonfinite_updates"] for row in lines if "train/skipped_nonfinite_updates" in row] == [1, 2, 3]
    # the run resumes from that checkpoint once the cause is gone
    monkeypatch.undo()
    resumed = train(tiny_recipe(tmp_path, *settings), resume=True)
    assert resumed.metrics["throughput"]["steps"] == 8 and resumed.metrics["throughput"]["skipped_nonfinite_updates"] == 0
    assert all(torch.isfinite(p).all() for p in resumed.model.parameters())


class _InfGradient(torch.autograd.Function):
    """Identity forward (the loss stays finite); an infinite gradient backward."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.full_like(grad, float("inf"))


def test_an_inf_gradient_or_an_inf_loss_skips_the_update_is_logged_and_counted(tmp_path, monkeypatch, caplog):
    def corrupt(n, loss):
        if n in (2, 3):
            return _InfGradient.apply(loss)  # finite loss, infinite gradient
        if n in (5, 6):
            return loss * float("inf")  # infinite loss
        return loss

    _corrupt_losses(monkeypatch, corrupt)
    caplog.set_level("WARNING", logger="textae.training.monitoring")
    # 4 skipped updates, never 3 in a row: the run goes on and ends with finite weights
    result = train(tiny_recipe(tmp_path, "train.max_steps=5", "train.log_every=1", "train.save_every=0", "train.eval_every=0", "train.max_nonfinite_steps=3"))
    assert result.metrics["throughput"]["steps"] == 5 and result.metrics["throughput"]["skipped_nonfinite_updates"] == 4
    lines = [json.loads(x) for x in (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["train/skipped_nonfinite_updates"] for row in lines if "train/skipped_nonfinite_updates" in row] == [1, 2, 3, 4]
    assert all(math.isfinite(row["train/loss"]) and math.isfinite(row["train/grad_norm"]) for row in lines if "train/loss" in row)
    warnings = [r.getMessage() for r in caplog.records if "update skipped" in r.getMessage()]
    assert len(warnings) == 4 and "2 in a row" in warnings[1] and "1 in a row, 3 in all" in warnings[2]
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_a_skipped_update_leaves_weights_optimizer_and_schedule_untouched():
    from transformers import get_scheduler

    from textae.training.loop import _apply_gradients

    torch.manual_seed(0)
    accelerator = fresh_accelerator()
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=10)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lr = scheduler.get_last_lr()
    for bad in (float("nan"), float("inf")):
        model(torch.ones(2, 4)).sum().backward()
        model.weight.grad[0, 0] = bad
        norm = _apply_gradients(accelerator, model, optimizer, scheduler, max_norm=1.0)
        assert not math.isfinite(norm)
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
        assert optimizer.state_dict()["state"] == {} and scheduler.get_last_lr() == lr
        assert all(p.grad is None or not p.grad.any() for p in model.parameters())  # the bad gradients are dropped
    model(torch.ones(2, 4)).sum().backward()
    assert math.isfinite(_apply_gradients(accelerator, model, optimizer, scheduler, max_norm=1.0))
    assert not torch.equal(model.weight, before["weight"]) and scheduler.get_last_lr() != lr  # a good one updates


DAE_NOISE = "model.noise=[{name: insert_punctuation, rate: 0.2}, {name: keyboard_typos, rate: 0.1}, {name: delete_tokens, rate: 0.3}]"


def test_a_denoising_run_with_text_noise_and_consistency_resumes_exactly(tmp_path):
    settings = [DAE_NOISE, "train.max_steps=8", "train.save_every=3", "train.eval_every=0", "train.loss_weights={consistency: {value: 0.5}}"]
    full = train(tiny_recipe(tmp_path / "full", *settings, family="dae"))
    assert "train/loss_consistency" in set().union(*(json.loads(x) for x in (full.run_dir / "logs" / "metrics.jsonl").read_text().splitlines()))
    train(tiny_recipe(tmp_path / "cut", *settings, family="dae"), stop_after_step=5)
    resumed = train(tiny_recipe(tmp_path / "cut", *settings, family="dae"), resume=True).model
    a, b = full.model.state_dict(), resumed.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_each_epoch_corrupts_an_example_afresh(tmp_path):
    from textae.training.build import make_collator, prepare_data, train_loader
    from textae.training.build import build_model

    recipe = tiny_recipe(tmp_path, DAE_NOISE, "data.synthetic_train_size=16", "train.batch_size=16", family="dae")
    tokenizer, train_ds, *_ = prepare_data(recipe)
    collator = make_collator(build_model(recipe, tokenizer), recipe)
    loader, sampler = train_loader(train_ds, collator, recipe)

    def epoch(n):
        sampler.set_epoch(n)
        (batch,) = list(loader)
        return {tuple(l.tolist()): tuple(i.tolist()) for l, i in zip(batch["labels"], batch["input_ids"])}

    first, again, second = epoch(0), epoch(0), epoch(1)
    assert first == again  # a rerun (or a resume) corrupts alike
    assert first.keys() == second.keys() and first != second  # the next epoch corrupts anew


def _micro_batches(tokenizer, corpus, family):
    """Four micro-batches of different sizes and lengths, and one batch holding them all."""
    from textae.data import TextAECollator

    c = tiny_model(family, tokenizer).config
    by_length = {}
    for ids in tokenizer(corpus[:300], add_special_tokens=False)["input_ids"]:
        by_length.setdefault(len(ids), []).append(ids)
    lengths = sorted(n for n, found in by_length.items() if len(found) >= 6)
    picked = [lengths[0], lengths[len(lengths) // 3], lengths[2 * len(lengths) // 3], lengths[-1]]
    groups = [by_length[n][:size] for n, size in zip(picked, (3, 5, 2, 6))]
    collate = TextAECollator(c.pad_token_id, c.bos_token_id, c.eos_token_id, mode="lm" if family == "lm" else "autoencoder")
    return [collate([{"input_ids": x} for x in g]) for g in groups], collate([{"input_ids": x} for g in groups for x in g])


def _gradients(model, accelerator, batches, scale=None):
    from textae.training.loop import Position, accumulate_gradients

    model.zero_grad()
    if scale is None:
        accumulate_gradients(accelerator, model, batches, {}, Position(), seed=0)
    else:  # the mean of each micro-batch's mean: what a loop that ignores the items per micro-batch does
        for batch in batches:
            accelerator.backward(model(**batch).loss * scale)
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("family", ["lm", "ae"])
def test_an_accumulated_step_gives_the_gradient_of_one_batch_of_all_its_micro_batches(tokenizer, corpus, family):
    accelerator = fresh_accelerator()
    model = accelerator.prepare(tiny_model(family, tokenizer).eval())  # eval: no dropout, the arithmetic alone
    micro, whole = _micro_batches(tokenizer, corpus, family)
    assert len({b["labels"].shape[1] for b in micro}) == 4
    accumulated = _gradients(model, accelerator, micro)
    one_batch = _gradients(model, accelerator, [whole])
    assert accumulated.keys() == one_batch.keys()
    for name in one_batch:
        torch.testing.assert_close(accumulated[name], one_batch[name], atol=1e-5, rtol=0, msg=name)
    # averaging the micro-batches' means instead weighs a short sentence's tokens more: another gradient
    naive = _gradients(model, accelerator, micro, scale=0.25)
    assert max((naive[n] - one_batch[n]).abs().max().item() for n in one_batch) > 1e-4


SPEED_SWITCHES = {
    # with 2 threads inductor's CPU kernels add the embedding gradient atomically: bit-identity needs
    # deterministic kernels
    "compile": ["train.compile=true", "train.full_determinism=true"],
    "adamw_fused": ["train.adamw_impl=fused"],
    "adamw_foreach": ["train.adamw_impl=foreach"],
    "checkpointing": ["train.gradient_checkpointing=true"],
}


@pytest.mark.parametrize("switch", list(SPEED_SWITCHES))
def test_each_speed_switch_trains_as_the_plain_path_and_resumes_exactly(tmp_path, switch):
    settings = ["train.max_steps=6", "train.save_every=3", "train.eval_every=0", "train.pack_length=64", "train.batch_size=4", "data.max_seq_length=24"]
    plain = train(tiny_recipe(tmp_path / "plain", *settings, "train.adamw_impl=single", family="lm"))
    on = SPEED_SWITCHES[switch]
    full = train(tiny_recipe(tmp_path / "full", *settings, *on, family="lm"))
    assert full.metrics["eval"]["loss"] == pytest.approx(plain.metrics["eval"]["loss"], rel=2e-3)
    train(tiny_recipe(tmp_path / "cut", *settings, *on, family="lm"), stop_after_step=4)
    resumed = train(tiny_recipe(tmp_path / "cut", *settings, *on, family="lm"), resume=True).model
    a, b = full.model.state_dict(), resumed.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("batching", [["train.pack_length=48", "train.batch_size=3"], ["train.max_tokens_per_batch=200"]])
def test_packed_and_token_budget_runs_resume_exactly_across_epochs(tmp_path, batching):
    # 64 sentences: an epoch is a few batches, so the cut (step 7) and the end fall in later epochs
    settings = ["data.synthetic_train_size=64", "train.max_steps=12", "train.save_every=7", "train.eval_every=0", *batching]
    family = "lm" if "pack" in batching[0] else "ae"
    full = train(tiny_recipe(tmp_path / "full", *settings, family=family)).model
    train(tiny_recipe(tmp_path / "cut", *settings, family=family), stop_after_step=9)
    resumed = train(tiny_recipe(tmp_path / "cut", *settings, family=family), resume=True).model
    a, b = full.state_dict(), resumed.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize(
    "settings,family,message",
    [
        (["train.pack_length=64"], "ae", "encoder reads one sentence a row"),
        (["train.pack_length=64", "train.max_tokens_per_batch=512"], "lm", "set one of them"),
        (["train.group_by_length=true", "train.max_tokens_per_batch=512"], "ae", "set one of them"),
        (["train.pack_length=20"], "lm", r"at least data.max_seq_length \+ 2 = 26"),
        (["train.adamw_impl=sparse"], "lm", "adamw_impl must be"),
    ],
)
def test_batching_and_optimizer_settings_that_cannot_work_are_refused_by_name(tmp_path, settings, family, message):
    with pytest.raises(ValueError, match=message):
        train(tiny_recipe(tmp_path, "train.max_steps=2", *settings, family=family))


def test_fed_the_same_batches_textae_and_the_trainer_take_the_same_steps(tmp_path, tokenizer, corpus):
    """The same LM, the same batches, the same AdamW, schedule, weight decay groups and clipping: three
    steps of textae's loop and of transformers.Trainer end at the same weights (dropout off, fp32)."""
    import datasets
    from transformers import Trainer, TrainingArguments, get_scheduler

    from textae.data import TextAECollator, encode_texts
    from textae.training.loop import Position, _apply_gradients, accumulate_gradients, make_optimizer

    settings = dict(learning_rate=3e-3, weight_decay=0.1, adam_beta2=0.999, warmup_steps=1, lr_scheduler="cosine", max_grad_norm=0.5, max_steps=3)
    ids = encode_texts(tokenizer, list(corpus[:48]), 32)
    collator = TextAECollator(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, mode="lm")
    batches = [collator([{"input_ids": x} for x in ids[i : i + 16]]) for i in range(0, 48, 16)]
    ours, theirs = tiny_model("lm", tokenizer), tiny_model("lm", tokenizer)  # same seed: same weights
    ours.train(), theirs.train()
    for model in (ours, theirs):
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0

    accelerator = fresh_accelerator()
    t = load_recipe(None, [f"train.{k}={v}" for k, v in settings.items()], base={"model": {"family": "lm"}}).train
    optimizer = make_optimizer(ours, t)
    scheduler = get_scheduler(t.lr_scheduler, optimizer, num_warmup_steps=t.warmup_steps, num_training_steps=t.max_steps)
    model, optimizer, scheduler = accelerator.prepare(ours, optimizer, scheduler)
    position = Position()
    for batch in batches:
        accumulate_gradients(accelerator, model, [batch], {}, position, seed=0)
        _apply_gradients(accelerator, model, optimizer, scheduler, t.max_grad_norm)

    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=16, learning_rate=t.learning_rate, weight_decay=t.weight_decay,
        adam_beta2=t.adam_beta2, warmup_steps=t.warmup_steps, lr_scheduler_type=t.lr_scheduler, max_grad_norm=t.max_grad_norm,
        use_cpu=True, save_strategy="no", report_to=[], disable_tqdm=True, dataloader_drop_last=False,
    )
    trainer = Trainer(model=theirs, args=args, train_dataset=datasets.Dataset.from_dict({"input_ids": ids}), data_collator=collator)
    trainer.get_train_dataloader = lambda: batches  # the same batches in the same order
    assert trainer.train().global_step == 3
    initial = tiny_model("lm", tokenizer)
    moved = [n for (n, a), b in zip(ours.named_parameters(), initial.parameters()) if not torch.allclose(a, b, atol=1e-4)]
    assert len(moved) > 0.9 * len(list(initial.parameters()))  # three real updates
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)
