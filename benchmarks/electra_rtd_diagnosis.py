"""Why does ELECTRA's discriminator stay at chance? Short runs, one setting changed at a time.

Every run pretrains the encoder of ``electra_vs_mlm.py`` (BERT 128 × 2 layers, WordPiece 8k, PTB +
SST-2 train text, batch 32, bf16) through textae's loop for ``--steps`` steps, then scores replaced-token
detection on the first 512 sentences of PTB valid (eval-mode corruption, the same for every run of a
replacement kind) with :func:`textae.metrics.electra.electra_report`.

Beside each discriminator it fits a **context-free baseline** that sees token identity only: for every
token id, the share of its occurrences in the corrupted training input that are replacements (counted
over ``--baseline-batches`` training batches corrupted by the same model, add-one smoothed). That is the
maximum-likelihood logistic regression on one-hot token ids; its AUC on the same valid tokens is what
identity alone can reach, so a discriminator above it uses the context.

``warm<N>`` first trains the same encoder for N steps on the masked-LM objective and starts the
discriminator from it: a test of whether RTD fails for want of attention to the context.

Variants (``--variants``): ``base`` (the benchmark's settings: λ = 50, LR 1e-3, generator 1/4),
``uniform`` (replacements drawn uniformly from the vocabulary, no generator), ``unigram`` (replacements
drawn from the corpus's token frequencies, no generator: context is the only cue), and the λ / LR /
generator-size grid ``lam<λ>``, ``lr<LR>``, ``gen<size>`` and their combinations joined by ``+``
(``lr3e-4+gen0.5``); ``bias0`` / ``prior`` (the detection head's output bias at zero / at the log class
priors, the default), ``wu<share>`` (warm-up as a share of the steps), ``temp<T>`` (sampling temperature),
``preln`` (the same BERT with LayerNorm before each sublayer), ``rope`` (RoFormer: rotary positions),
``modern`` (ModernBERT: rotary, pre-LN, GeGLU), ``conv`` (ConvBERT: half the heads local convolutions),
``drop<p>`` (every dropout at p: BERT's are 0.1, ModernBERT's 0), ``biases`` (ModernBERT with
biases, as BERT has), ``init<std>``, ``const``,
``nogroup``, ``fp32``, ``tieall``, ``seed<N>`` (the training seed, for the spread between seeds).

Each run also gets two probes of the trained discriminator on clean valid sentences: the **collapse
probe** (mean cosine between the last-layer states of two positions of a sentence; near 1, every position
says the same) and the **context probe** (relative state change of a replaced token's neighbours and of
the tokens further away). ``--probe-stored`` adds them to stored runs whose model is still in ``--work``.
``--chain VARIANT ... --seeds S ...`` runs the variants on the chain language instead (each token fixes
the next, every id equally frequent: the context-free AUC is 0.5 by construction; ~15 s a run).
Prose for the results page lives in ``results/electra_rtd_diagnosis_notes.md`` and heads the tables.

    OMP_NUM_THREADS=1 python benchmarks/electra_rtd_diagnosis.py --variants uniform base --steps 400

Results: benchmarks/results/electra_rtd_diagnosis.{json,md} (runs are merged into the JSON by name,
so the table can be built over several invocations).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import electra_vs_mlm as bench  # noqa: E402  (same corpus, tokenizer and recipe)

REPO = Path(__file__).resolve().parents[1]


def parse_variant(name: str) -> tuple[dict, dict, str | None]:
    """``lr3e-4+lam10+gen0.5`` → (model settings, train settings, control sampler)."""
    model, train, sampler = {}, {}, None
    warm = 0
    for part in name.split("+"):
        if part == "base":
            continue
        if part in ("uniform", "unigram"):
            model["replacement"], sampler = "uniform", part
        elif part.startswith("lam"):
            model["loss_weights"] = {"rtd": float(part[3:])}
        elif part.startswith("lr"):
            train["learning_rate"] = float(part[2:])
        elif part.startswith("gen"):
            model["generator_size"] = float(part[3:])
        elif part.startswith("mask"):
            model["mask_rate"] = float(part[4:])
        elif part.startswith("drop"):  # every dropout of the discriminator at p: drop0, drop0.1
            model["encoder_config"] = with_dropout(model.get("encoder_config", bench.ENCODER), float(part[4:]))
        elif part == "biases":  # ModernBERT with biases in its linear layers and norms, as BERT has
            model["encoder_config"] = {**model.get("encoder_config", bench.ENCODER), "mlp_bias": True, "attention_bias": True, "norm_bias": True}
        elif part.startswith("init"):
            model["encoder_config"] = {**model.get("encoder_config", bench.ENCODER), "initializer_range": float(part[4:])}
            model["initializer_range"] = float(part[4:])
        elif part.startswith("warm"):
            warm = int(part[4:])
        elif part == "tieall":
            model["shared_embeddings"] = "all"
        elif part.startswith("seed"):  # the training seed (init, batches, corruption): seed1
            train["seed"] = int(part[4:])
        elif part == "const":
            train["lr_scheduler"] = "constant_with_warmup"
        elif part == "nogroup":
            train["group_by_length"] = False
        elif part == "fp32":
            train["bf16"] = False
        elif part.startswith("wu"):  # warm-up as a share of the steps: wu0.4
            train["warmup_share"] = float(part[2:])
        elif part.startswith("temp"):
            model["sampling_temperature"] = float(part[4:])
        elif part == "preln":  # the same BERT, LayerNorm before each sublayer
            model["encoder_config"] = {**model.get("encoder_config", bench.ENCODER), "model_type": "roberta-prelayernorm"}
        elif part == "rope":  # the same shape with rotary positions (RoFormer) instead of learned absolute ones
            base = model.get("encoder_config", bench.ENCODER)
            model["encoder_config"] = {**base, "model_type": "roformer", "embedding_size": base["hidden_size"]}
        elif part == "conv":  # ConvBERT of the same shape: half the heads become span-based convolutions (kernel 9)
            base = model.get("encoder_config", bench.ENCODER)
            model["encoder_config"] = {**base, "model_type": "convbert", "embedding_size": base["hidden_size"]}
        elif part == "modern":  # ModernBERT of the same shape: rotary positions, pre-LN, GeGLU, no biases
            base = model.get("encoder_config", bench.ENCODER)
            keep = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings")
            model["encoder_config"] = {"model_type": "modernbert", **{k: base[k] for k in keep}, "global_attn_every_n_layers": 1}
        elif part in ("prior", "bias0"):  # the detection head's output bias at init: log class priors / zero
            model["head_bias_init"] = "prior" if part == "prior" else "zero"
        else:
            raise SystemExit(f"unknown variant part {part!r} in {name!r}")
    if warm:
        train["mlm_warm_start_steps"] = warm
    return model, train, sampler


def with_dropout(config: dict, p: float) -> dict:
    """``config`` with every dropout at ``p``, under the names its model type uses."""
    if config.get("model_type") == "modernbert":
        return {**config, "embedding_dropout": p, "mlp_dropout": p, "attention_dropout": p}
    return {**config, "hidden_dropout_prob": p, "attention_probs_dropout_prob": p}


def unigram_sampler(train_ds, vocab_size: int, special_ids: list[int]):
    """A stand-in for :func:`textae.noise.electra.uniform_tokens` that draws ids by corpus frequency:
    replacements as frequent as the words they replace, so token identity says nothing."""
    counts = torch.zeros(vocab_size, dtype=torch.float64)
    for row in train_ds["input_ids"]:
        counts += torch.bincount(torch.as_tensor(row), minlength=vocab_size)[:vocab_size].double()
    counts[special_ids] = 0
    probs = counts / counts.sum()

    def draw(n, vocab, banned=(), generator=None, device=None):
        return torch.multinomial(probs, n, replacement=True, generator=generator).to(device)

    return draw


@torch.no_grad()
def context_free_auc(model, train_loader, eval_loader, batches: int) -> tuple[float, torch.Tensor]:
    """AUC on ``eval_loader`` of the per-token-id replaced share fitted on ``batches`` training batches,
    and that share [V]."""
    from textae.metrics.electra import roc_auc
    from textae.tensors import IGNORE_INDEX

    model.eval()  # eval-mode corruption: repeatable, dropout off (the generator's samples as at eval)
    vocab = model.get_input_embeddings().weight.shape[0]
    replaced, seen = torch.ones(vocab, dtype=torch.float64), 2 * torch.ones(vocab, dtype=torch.float64)
    for i, batch in enumerate(train_loader):
        if i >= batches:
            break
        out = model(**batch)
        valid = out.rtd_labels != IGNORE_INDEX
        ids, labels = out.input_ids[valid], out.rtd_labels[valid]
        seen += torch.bincount(ids, minlength=vocab).double()
        replaced += torch.bincount(ids[labels != 0], minlength=vocab).double()
    rate = replaced / seen
    scores, positive = [], []
    for batch in eval_loader:
        out = model(**batch)
        valid = out.rtd_labels != IGNORE_INDEX
        scores.append(rate[out.input_ids[valid]])
        positive.append(out.rtd_labels[valid] != 0)
    return roc_auc(torch.cat(scores), torch.cat(positive)), rate


@torch.no_grad()
def auc_by_replacement_frequency(model, train_ds, eval_loader, rate: torch.Tensor, mass: float = 0.9) -> dict:
    """The discriminator's and the context-free AUC with the replaced tokens split in two: those whose
    new token is one of the frequent ids that make up ``mass`` of the training text, and the rest (each
    subset against every original token). A rare token in place of a word is told by identity alone; a
    frequent one, as with unigram draws or the generator, only by the context."""
    from textae.metrics.electra import roc_auc
    from textae.tensors import IGNORE_INDEX

    vocab = rate.shape[0]
    counts = torch.zeros(vocab, dtype=torch.float64)
    for row in train_ds["input_ids"]:
        counts += torch.bincount(torch.as_tensor(row), minlength=vocab)[:vocab].double()
    order = counts.argsort(descending=True)
    covered = counts[order].cumsum(0) / counts.sum()
    frequent = torch.zeros(vocab, dtype=torch.bool)
    frequent[order[: int((covered < mass).sum()) + 1]] = True
    model.eval()
    ids, labels, scores = [], [], []
    for batch in eval_loader:
        out = model(**batch)
        valid = out.rtd_labels != IGNORE_INDEX
        ids.append(out.input_ids[valid])
        labels.append(out.rtd_labels[valid])
        scores.append(1 - out.logits[valid].float().softmax(-1)[:, 0])
    ids, labels, scores = torch.cat(ids), torch.cat(labels), torch.cat(scores)
    original, replaced = labels == 0, labels != 0
    split = {"frequent_ids": int(frequent.sum()), "mass": mass}
    for name, part in (("frequent", replaced & frequent[ids]), ("rare", replaced & ~frequent[ids])):
        keep = original | part
        split[name] = {
            "share_of_replaced": float(part.sum() / replaced.sum().clamp(min=1)),
            "rtd_auc": roc_auc(scores[keep], part[keep]),
            "context_free_auc": roc_auc(rate[ids][keep], part[keep]),
        }
    return split


@torch.no_grad()
def inter_position_cosine(model, eval_loader, batches: int = 4) -> float:
    """The collapse probe: mean cosine between the last-layer states of two different real tokens of
    one clean valid sentence (near 1: every position says the same, the context is lost)."""
    model.eval()
    total, count = 0.0, 0
    for i, batch in enumerate(eval_loader):
        if i >= batches:
            break
        mask = batch["attention_mask"].bool()
        states = torch.nn.functional.normalize(model.encoder(batch["input_ids"], batch["attention_mask"]).states.float(), dim=-1)
        sims = states @ states.transpose(1, 2)  # [B, T, T]
        pairs = mask[:, :, None] & mask[:, None, :] & ~torch.eye(mask.shape[1], dtype=torch.bool)
        total += float(sims[pairs].sum())
        count += int(pairs.sum())
    return total / max(1, count)


@torch.no_grad()
def context_sensitivity(model, eval_loader, batches: int = 4) -> tuple[float, float]:
    """Replaces one middle token per valid sentence (a uniform draw) and returns the relative change
    of the last-layer states of its two neighbours and of the tokens further away: a discriminator
    that reads the local context changes its neighbours more than the rest."""
    model.eval()
    rng = torch.Generator().manual_seed(0)
    near, far = [], []
    for i, batch in enumerate(eval_loader):
        if i >= batches:
            break
        ids, mask = batch["input_ids"], batch["attention_mask"]
        lengths = mask.sum(1)
        keep = lengths >= 6
        ids, mask, lengths = ids[keep], mask[keep], lengths[keep]
        rows = torch.arange(len(ids))
        pos = 2 + (torch.rand(len(ids), generator=rng) * (lengths - 4).float()).long()  # not next to [BOS] / [EOS]
        changed = ids.clone()
        changed[rows, pos] = torch.randint(5, model.config.vocab_size, (len(ids),), generator=rng)
        a, b = model.encoder(ids, mask).states.float(), model.encoder(changed, mask).states.float()
        delta = (a - b).norm(dim=-1) / a.norm(dim=-1)
        offset = (torch.arange(ids.shape[1])[None] - pos[:, None]).abs()
        near.append(delta[(offset == 1) & mask.bool()])
        far.append(delta[(offset > 1) & mask.bool()])
    return float(torch.cat(near).mean()), float(torch.cat(far).mean())


def run_variant(args, name: str) -> dict:
    import textae.models.electra as electra_module
    from torch.utils.data import DataLoader

    from textae.data import LengthGroupedBatchSampler
    from textae.metrics.electra import electra_report
    from textae.training import train
    from textae.training.build import eval_loader, make_collator

    model_settings, train_settings, sampler = parse_variant(name)
    folder = f"diag_{name.replace('+', '_')}"
    shutil.rmtree(args.work / folder, ignore_errors=True)
    warm = train_settings.pop("mlm_warm_start_steps", 0)
    warmup_share = train_settings.pop("warmup_share", None)
    if warm:  # the masked-LM objective first; its encoder then starts the discriminator
        warm_recipe = bench.recipe(args, folder + "_mlm", warm, False, family="mlm")
        shutil.rmtree(args.work / (folder + "_mlm"), ignore_errors=True)
        model_settings["encoder_pretrained"] = str(train(warm_recipe).model.export_hf_encoder(args.work / (folder + "_mlm") / "hf"))
        model_settings.pop("encoder_config", None)
    recipe = bench.recipe(args, folder, args.steps, True, **model_settings)
    if warm:
        del recipe.model["encoder_config"]
    for key, value in train_settings.items():
        setattr(recipe.train, key, value)
    if warmup_share is not None:
        recipe.train.warmup_steps = max(1, round(warmup_share * args.steps))
        train_settings["warmup_steps"] = recipe.train.warmup_steps
    real_uniform = electra_module.uniform_tokens
    try:
        if sampler == "unigram":
            from textae.training.build import prepare_data

            tokenizer, train_ds, *_ = prepare_data(recipe)
            specials = sorted({tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.mask_token_id} - {None})
            electra_module.uniform_tokens = unigram_sampler(train_ds, len(tokenizer), specials)
        start = time.perf_counter()
        result = train(recipe)
        seconds = time.perf_counter() - start
        model = result.model.cpu()
        from textae.training.build import prepare_data

        _, train_ds, eval_ds, *_ = prepare_data(recipe)
        collator = make_collator(model, recipe)
        sampler_ = LengthGroupedBatchSampler(train_ds["length"], recipe.train.batch_size, seed=1)
        train_dl = DataLoader(train_ds, batch_sampler=sampler_, collate_fn=collator)
        eval_dl = eval_loader(eval_ds, collator, recipe)
        report = electra_report(model, eval_dl)
        baseline, rate = context_free_auc(model, train_dl, eval_dl, args.baseline_batches)
        by_frequency = auc_by_replacement_frequency(model, train_ds, eval_dl, rate)
        cosine = inter_position_cosine(model, eval_dl)
        near, far = context_sensitivity(model, eval_dl)
    finally:
        electra_module.uniform_tokens = real_uniform
    log = [json.loads(x) for x in (args.work / folder / "logs" / "metrics.jsonl").read_text().splitlines()]
    curve = [(r["step"], r["eval/rtd_auc"]) for r in log if "eval/rtd_auc" in r]
    return {
        "variant": name,
        "model": model_settings,
        "train": train_settings,
        "replacement": sampler or "generator",
        "steps": args.steps,
        "train_seconds": seconds,
        "rtd_auc": report["rtd_auc"],
        "context_free_auc": baseline,
        "inter_position_cosine": cosine,
        "context_sensitivity": {"neighbours": near, "further": far},
        "head_bias_init": result.model.config.head_bias_init,
        "accuracy_replaced": report.get("accuracy_replaced"),
        "accuracy_original": report.get("accuracy_original"),
        "mlm_accuracy": report.get("mlm_accuracy"),
        "replaced_share": report.get("replaced_share"),
        "auc_curve": curve,
        "by_replacement_frequency": by_frequency,
    }


def probe_stored(args, stored: dict) -> None:
    """Adds the collapse probe to stored runs whose trained model is still in ``--work`` (same steps)."""
    from textae.models.electra import TextElectra
    from textae.training.build import eval_loader, make_collator, prepare_data

    for key, run in stored["runs"].items():
        folder = args.work / f"diag_{run['variant'].replace('+', '_')}"
        if not folder.exists():  # runs from before the bias0 variant existed: the zero bias was the only init
            folder = args.work / f"diag_{run['variant'].removesuffix('+bias0').replace('+', '_')}"
        if run.get("context_sensitivity") is not None or not (folder / "model").exists():
            continue
        last = json.loads((folder / "logs" / "metrics.jsonl").read_text().splitlines()[-1])
        saved_init = json.loads((folder / "model" / "config.json").read_text()).get("head_bias_init", "zero")  # older runs: zero
        if last.get("step") != run["steps"] or saved_init != run["head_bias_init"]:
            continue  # the folder holds another run now
        recipe = bench.recipe(args, folder.name, run["steps"], True)
        model = TextElectra.from_pretrained(folder / "model").eval()
        _, _, eval_ds, *_ = prepare_data(recipe)
        loader = eval_loader(eval_ds, make_collator(model, recipe), recipe)
        run["inter_position_cosine"] = inter_position_cosine(model, loader)
        near, far = context_sensitivity(model, loader)
        run["context_sensitivity"] = {"neighbours": near, "further": far}
        print(f"{key}: inter-position cosine {run['inter_position_cosine']:.3f}, sensitivity {near:.3f} / {far:.3f}", flush=True)


def chain_batch(successor: torch.Tensor, rows: int, length: int, generator: torch.Generator) -> dict:
    """[BOS] x [EOS] rows of the chain language: each token fixes the next, every id equally frequent."""
    x = [torch.randint(5, 5 + successor.numel(), (rows,), generator=generator)]
    for _ in range(length - 1):
        x.append(successor[x[-1] - 5])
    ids = torch.cat([torch.full((rows, 1), 2), torch.stack(x, 1), torch.full((rows, 1), 3)], 1)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def chain_run(name: str, seed: int, steps: int = 300, vocab: int = 64) -> dict:
    """RTD with uniform replacements on the chain language, where the context-free AUC is 0.5 by
    construction: the tiny discriminator of the test (BERT 64 × 2), the training loop's optimizer."""
    from textae.metrics.electra import roc_auc
    from textae.models.electra import TextElectra, TextElectraConfig
    from textae.tensors import IGNORE_INDEX

    model_settings, train_settings, _ = parse_variant(name)
    encoder = {"model_type": "bert", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256, "max_position_embeddings": 64}
    encoder.update({k: v for k, v in model_settings.pop("encoder_config", {}).items() if k not in bench.ENCODER or k == "model_type"})
    torch.manual_seed(seed)
    model = TextElectra(TextElectraConfig(vocab_size=vocab, replacement="uniform", encoder_config=encoder, **{k: v for k, v in model_settings.items() if k != "replacement"}))
    lr = train_settings.get("learning_rate", 1e-3)
    warmup = max(1, round(train_settings.get("warmup_share", 0.05) * steps))
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "norm" not in n.lower()]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "norm" not in n.lower())]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    successor = torch.randperm(vocab - 5, generator=torch.Generator().manual_seed(0)) + 5
    data = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    model.train()
    for _ in range(steps):
        model(**chain_batch(successor, 32, 16, data)).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        batch = chain_batch(successor, 256, 16, torch.Generator().manual_seed(99))
        out = model(**batch)
        valid = out.rtd_labels != IGNORE_INDEX
        auc = roc_auc(out.logits.float().softmax(-1)[..., 1][valid], out.rtd_labels[valid] == 1)
        states = torch.nn.functional.normalize(model.encoder(**batch).states, dim=-1)
        cosine = float((states @ states.transpose(1, 2))[:, ~torch.eye(states.shape[1], dtype=torch.bool)].mean())
    return {"variant": name, "seed": seed, "steps": steps, "head_bias_init": model.config.head_bias_init, "rtd_auc": auc,
            "inter_position_cosine": cosine, "train_seconds": time.perf_counter() - start}


def chain_table(runs: dict) -> str:
    lines = [
        "| variant | seed | steps | head bias init | RTD AUC (context-free: 0.5) | inter-position cosine |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs.values():
        lines.append(f"| {r['variant']} | {r['seed']} | {r['steps']} | {r['head_bias_init']} | {r['rtd_auc']:.3f} | {r['inter_position_cosine']:.3f} |")
    return "\n".join(lines)


def probe_mlm_warm_starts(args, stored: dict) -> None:
    """The collapse and context probes of the masked-LM encoders that ``warm<N>`` started from."""
    from textae.models.electra import TextElectra
    from textae.training.build import eval_loader, make_collator, prepare_data

    for folder in sorted(args.work.glob("diag_*_mlm")):
        if not (folder / "model").exists():
            continue
        steps = json.loads((folder / "logs" / "metrics.jsonl").read_text().splitlines()[-1])["step"]
        recipe = bench.recipe(args, folder.name, steps, False, family="mlm")
        model = TextElectra.from_pretrained(folder / "model").eval()
        _, _, eval_ds, *_ = prepare_data(recipe)
        loader = eval_loader(eval_ds, make_collator(model, recipe), recipe)
        near, far = context_sensitivity(model, loader)
        stored.setdefault("mlm_encoders", {})[f"mlm@{steps}"] = {
            "steps": steps, "mlm_accuracy": model.extra_metrics(loader)["electra"].get("mlm_accuracy"),
            "inter_position_cosine": inter_position_cosine(model, loader), "context_sensitivity": {"neighbours": near, "further": far},
        }


def table(runs: dict) -> str:
    lines = [
        "| variant | replacements | steps | train time | head bias init | RTD AUC (PTB valid) | context-free AUC | inter-position cosine | state change, neighbours / further | acc. replaced | generator MLM acc. | AUC during training (step: AUC) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs.values():
        mlm = "–" if r["mlm_accuracy"] is None else f"{r['mlm_accuracy']:.3f}"
        curve = ", ".join(f"{s}: {a:.2f}" for s, a in r["auc_curve"])
        cosine = "–" if r.get("inter_position_cosine") is None else f"{r['inter_position_cosine']:.3f}"
        sens = r.get("context_sensitivity")
        sens = "–" if sens is None else f"{sens['neighbours']:.3f} / {sens['further']:.3f}"
        lines.append(
            f"| {r['variant']} | {r['replacement']} | {r['steps']} | {r['train_seconds'] / 60:.1f} min | {r['head_bias_init']} | {r['rtd_auc']:.3f} | "
            f"{r['context_free_auc']:.3f} | {cosine} | {sens} | {r['accuracy_replaced']:.3f} | {mlm} | {curve} |"
        )
    return "\n".join(lines)


def frequency_table(runs: dict) -> str:
    """The runs that split their replaced tokens by the new token's frequency."""
    split = [r for r in runs.values() if r.get("by_replacement_frequency")]
    if not split:
        return ""
    first = split[0]["by_replacement_frequency"]
    lines = [
        f"Replaced tokens split by the new token: one of the {first['frequent_ids']} frequent ids that make up "
        f"{first['mass']:.0%} of the training text, or a rarer one (each part against every original token):",
        "",
        "| variant | steps | RTD AUC, all | frequent: share of replaced | frequent: RTD AUC | frequent: context-free | rare: RTD AUC | rare: context-free |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in split:
        f, q = r["by_replacement_frequency"]["frequent"], r["by_replacement_frequency"]["rare"]
        lines.append(f"| {r['variant']} | {r['steps']} | {r['rtd_auc']:.3f} | {f['share_of_replaced']:.2f} | {f['rtd_auc']:.3f} | {f['context_free_auc']:.3f} | {q['rtd_auc']:.3f} | {q['context_free_auc']:.3f} |")
    return "\n".join(lines)


def write(results: Path, stored: dict) -> None:
    results.with_suffix(".json").write_text(json.dumps(stored, indent=2))
    notes = results.with_name(results.name + "_notes.md")
    text = notes.read_text() if notes.exists() else ""
    text += "RTD on PTB valid (first 512 sentences) after short runs; written by benchmarks/electra_rtd_diagnosis.py.\n\n" + table(stored["runs"]) + "\n"
    if frequency_table(stored["runs"]):
        text += "\n" + frequency_table(stored["runs"]) + "\n"
    for key, r in stored.get("mlm_encoders", {}).items():
        sens = r["context_sensitivity"]
        text += (f"\nThe masked-LM encoder after {r['steps']} steps (the warm start): MLM accuracy {r['mlm_accuracy']:.3f}, inter-position cosine "
                 f"{r['inter_position_cosine']:.3f}, state change neighbours / further {sens['neighbours']:.3f} / {sens['further']:.3f}.\n")
    if stored.get("chain"):
        text += "\nThe chain language (each token fixes the next, every id equally frequent; uniform replacements; BERT 64 × 2, batch 32):\n\n"
        text += chain_table(stored["chain"]) + "\n"
    results.with_suffix(".md").write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/electra/diagnosis"))
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "electra_rtd_diagnosis"))
    parser.add_argument("--variants", nargs="*", default=None, help="default: uniform unigram base, or none with --merge / --probe-stored / --chain")
    parser.add_argument("--merge", nargs="*", default=None, help="result JSONs of runs made in parallel, merged into --results (none: rewrite the page)")
    parser.add_argument("--probe-stored", action="store_true", help="add the collapse probe to stored runs whose model is in --work")
    parser.add_argument("--chain", nargs="*", default=[], help="variants to run on the chain language, e.g. bias0 prior")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--baseline-batches", type=int, default=300)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--curve-points", type=int, default=4)
    # electra_vs_mlm's recipe reads these; here the variant names change them (fp32, modern, ...), so
    # the base stays the bf16 BERT the tables were made with
    parser.set_defaults(encoder="bert", bf16=True)
    args = parser.parse_args()
    if args.variants is None:  # merging, probing or the chain language alone trains nothing else
        args.variants = [] if (args.merge is not None or args.probe_stored or args.chain) else ["uniform", "unigram", "base"]
    if not (args.data / "ptb" / "train.txt").exists():
        print(f"electra_rtd_diagnosis: PTB not found under {args.data} (pass --data)", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    bench.prepare_corpus(args.data, args.work)
    bench.prepare_tokenizer(args.work, args.vocab_size)
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    stored = json.loads(results.with_suffix(".json").read_text()) if results.with_suffix(".json").exists() else {"runs": {}}
    for other in args.merge or []:  # runs made in parallel, each into its own file
        stored["runs"].update(json.loads(Path(other).read_text())["runs"])
    if args.probe_stored:
        probe_stored(args, stored)
        probe_mlm_warm_starts(args, stored)
    if args.merge is not None or args.probe_stored:
        write(results, stored)
    for name in args.chain:
        for seed in args.seeds:
            run = chain_run(name, seed)
            stored.setdefault("chain", {})[f"{name}@seed{seed}"] = run
            write(results, stored)
            print(f"chain {name} seed {seed}: RTD AUC {run['rtd_auc']:.3f}, cosine {run['inter_position_cosine']:.3f}", flush=True)
    for name in args.variants:
        run = run_variant(args, name)
        key = f"{name}@{args.steps}"
        stored["runs"][key] = run
        stored["machine"] = bench.machine()
        write(results, stored)
        print(f"{key}: RTD AUC {run['rtd_auc']:.3f}, context-free {run['context_free_auc']:.3f}, {run['train_seconds'] / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
