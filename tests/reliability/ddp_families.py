"""Trains every registered family in turn inside one 2-process group (run under ``accelerate launch``):
the process group starts once, each family runs the textae loop, and each rank writes the family's
parameters and buffers (every named buffer, persistent or not) to OUT/<family>.rank<r>.safetensors.

    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no \\
        --dynamo_backend no tests/reliability/ddp_families.py OUT [family ...] [--plain-exit]

It ends as textae's CLI does (wait for every rank, destroy the process group, flush, ``os._exit(0)``);
``--plain-exit`` returns normally instead, to measure the gloo abort at interpreter exit that this avoids.
"""

from __future__ import annotations

import json
import os
import sys
import time

TINY_ENCODER = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}
TINY_DECODER = {"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2, "n_positions": 64}
AUTOENCODER = {"latent_dim": 16, "memory_slots": 2, "encoder_config": TINY_ENCODER, "decoder_config": TINY_DECODER}

MODELS = {
    "ae": AUTOENCODER,
    "dae": {**AUTOENCODER, "noise": [{"name": "delete_tokens", "rate": 0.3}, {"name": "keyboard_typos", "rate": 0.1}]},
    "vae": {**AUTOENCODER, "word_dropout": 0.2},
    "cvae": {**AUTOENCODER, "label_embedding_dim": 4},
    "vq": {**AUTOENCODER, "bottleneck_options": {"codebook_size": 16, "heads": 2, "downsample": 2, "dead_code_steps": 2}},
    "lm": {"decoder_config": TINY_DECODER},
    "electra": {"encoder_config": TINY_ENCODER},
    "mlm": {"encoder_config": TINY_ENCODER},
    "tagger": {"encoder_config": TINY_ENCODER},
}


def recipe_tree(family: str, out: str) -> dict:
    data = {"source": "synthetic", "synthetic_train_size": 96, "synthetic_eval_size": 16, "max_seq_length": 24}
    if family == "cvae":
        data["label_column"] = "sentiment"
    train = {
        "output_dir": os.path.join(out, family), "cpu": True, "max_steps": 3, "batch_size": 8, "eval_batch_size": 16, "warmup_steps": 1,
        "eval_every": 0, "save_every": 0, "log_every": 1, "show_reconstructions": 0, "iw_samples": 2,
    }
    return {"model": {"family": family, **MODELS[family]}, "data": data, "train": train}


def state_of(model) -> dict:
    """Parameters and every buffer, as separate tensors (tied weights appear once, under their name)."""
    state = {f"param.{n}": p.detach().clone().contiguous() for n, p in model.named_parameters()}
    state.update({f"buffer.{n}": b.detach().clone().contiguous() for n, b in model.named_buffers()})
    return state


def main(argv: list[str]) -> None:
    plain_exit = "--plain-exit" in argv
    args = [a for a in argv if a != "--plain-exit"]
    out, families = args[0], args[1:]
    from accelerate import PartialState
    from safetensors.torch import save_file

    import textae
    from textae.training import load_recipe, train

    state = PartialState(cpu=True)
    rank = state.process_index
    for family in families or sorted(textae.FAMILIES):
        start = time.perf_counter()
        result = train(load_recipe(None, base=recipe_tree(family, out)))
        save_file(state_of(result.model), os.path.join(out, f"{family}.rank{rank}.safetensors"))
        print(json.dumps({"family": family, "rank": rank, "world": state.num_processes, "seconds": round(time.perf_counter() - start, 2)}), flush=True)
    state.wait_for_everyone()
    state.destroy_process_group()
    print(f"rank {rank} of {state.num_processes} done", flush=True)
    if plain_exit:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
