"""The VQ family through the loop: metrics and plots of a run, the prior over codes, `textae generate`,
and two processes ending with the same codebooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import REPO, TINY_DECODER, TINY_ENCODER
from textae.training import load_recipe, train

VQ_TINY = {
    "model": {
        "family": "vq",
        "latent_dim": 16,
        "bottleneck_options": {"codebook_size": 16, "heads": 2, "downsample": 2, "dead_code_steps": 3},
        "encoder_config": TINY_ENCODER,
        "decoder_config": TINY_DECODER,
    },
    "data": {"source": "synthetic", "synthetic_train_size": 256, "synthetic_eval_size": 32, "max_seq_length": 24},
    "train": {"max_steps": 8, "batch_size": 16, "eval_batch_size": 32, "warmup_steps": 2, "eval_every": 0, "save_every": 0, "log_every": 2, "show_reconstructions": 0},
}


def vq_recipe(out, *overrides):
    return load_recipe(None, [f"train.output_dir={out}", *overrides], base=json.loads(json.dumps(VQ_TINY)))


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory):
    return train(vq_recipe(tmp_path_factory.mktemp("vq") / "run"))


def test_a_run_reports_codebook_usage_rate_and_draws_the_histogram(vq_run):
    vq = vq_run.metrics["vq"]
    assert 0 < vq["codes_used"] <= 1 and vq["codes_total"] == 32 and len(vq["code_counts"]) == 2
    assert vq["bits_per_position"] == 8.0 and vq["bits_per_token"] == pytest.approx(vq["bits_per_sentence"] / vq["tokens_per_sentence"])
    assert 1 <= vq["codebook_perplexity"] <= 16
    assert 0 <= vq_run.metrics["reconstruction"]["token_accuracy"] <= 1
    assert (vq_run.run_dir / "plots" / "codebook_usage.png").stat().st_size > 1000
    logged = set().union(*(json.loads(x) for x in (vq_run.run_dir / "logs" / "metrics.jsonl").read_text().splitlines()))
    assert {"train/codebook_perplexity", "train/dead_codes", "train/loss_commitment"} <= logged


def test_the_prior_trains_on_codes_and_generate_decodes_its_samples(vq_run, capsys):
    from textae.cli import main
    from textae.training.prior import train_prior

    too_short = {**TINY_DECODER, "n_positions": 4}  # raised to the longest code sequence + BOS + EOS
    result = train_prior(vq_run.run_dir, [f"model.decoder_config={json.dumps(too_short)}", "train.max_steps=6", "train.eval_every=0"])
    first = (vq_run.run_dir / "prior" / "data" / "train.txt").read_text().splitlines()[0].split()
    assert all(w.startswith("c") for w in first) and len(first) % 2 == 0
    assert result.metrics["eval"]["ppl"] > 1
    model = vq_run.model.eval()
    model.load_prior(vq_run.run_dir / "prior")
    torch.manual_seed(0)
    for codes in model.sample_codes(4):  # each step takes a code of its own head, whole positions only
        assert len(codes) % 2 == 0 and all((c // 16) == j % 2 for j, c in enumerate(codes))
    capsys.readouterr()
    assert main(["generate", str(vq_run.run_dir), "-n", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_generate_without_a_prior_says_so(tmp_path, capsys):
    from textae.cli import main

    result = train(vq_recipe(tmp_path / "run", "train.max_steps=2"))
    assert main(["generate", str(result.run_dir), "-n", "2"]) == 2
    assert "no prior over codes" in capsys.readouterr().err


DDP_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from accelerate import PartialState
    from safetensors.torch import save_file
    from textae.modules.vq import VectorQuantizer
    from textae.training import load_recipe, train
    from tests.training.test_vq_training import VQ_TINY

    state = PartialState(cpu=True)
    rank = state.process_index
    out = sys.argv[1]
    # the quantizer alone (no DDP wrapper, so no buffer broadcast): each rank sees its own data
    saved = {}
    for name, options in {"ema": {}, "grad": {"ema": False}}.items():
        torch.manual_seed(0)
        vq = VectorQuantizer(dim=8, codebook_size=16, heads=2, kmeans_init=True, dead_code_steps=1, **options).train()
        for step in range(5):
            torch.manual_seed(100 * rank + step)
            vq(torch.randn(20 + 10 * rank, 8) + rank)
        saved.update({f"{name}.{k}": v.detach().contiguous() for k, v in vq.state_dict().items()})
    # the whole family through the training loop
    recipe = load_recipe(None, [f"train.output_dir={out}/run", "train.cpu=true", "train.max_steps=4"], base=json.loads(json.dumps(VQ_TINY)))
    result = train(recipe)
    saved.update({f"model.{k}": v.contiguous() for k, v in result.model.state_dict().items() if "quantizer" in k})
    save_file(saved, os.path.join(out, f"rank{rank}.safetensors"))
    print(f"rank {rank} of {os.environ['WORLD_SIZE']} done", flush=True)
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(0)
    """
)


@pytest.mark.integration
def test_two_process_ddp_run_ends_with_identical_codebooks(tmp_path):
    script = tmp_path / "ddp_vq.py"
    script.write_text(DDP_SCRIPT)
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", str(script), str(tmp_path),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank 0 of 2 done" in proc.stdout and "rank 1 of 2 done" in proc.stdout
    a, b = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert a.keys() == b.keys() and {"ema.embed", "ema.cluster_size", "grad.embed", "model.bottleneck.quantizer.embed"} <= set(a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert a["ema.unused_steps"].sum() >= 0 and a["ema.initialized"].tolist() == [1.0]
