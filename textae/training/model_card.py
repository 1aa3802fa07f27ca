"""The README.md written beside a trained model: recipe, data, metrics and how to load it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml


def write_model_card(model_dir: Path, recipe, metrics: dict, class_name: str) -> None:
    d = recipe.data
    data = d.source if d.source != "files" else ", ".join(d.train_files or [])
    ev = metrics.get("eval", {})
    lines = [
        "---",
        "library_name: textae",
        "tags: [textae, text-autoencoder]",
        "---",
        f"# {class_name} trained with textae",
        "",
        f"Family `{recipe.model['family']}`, trained for {recipe.train.max_steps} steps on `{data}` "
        f"(text column `{d.text_column}`, tokenizer `{d.tokenizer}`, max {d.max_seq_length} tokens).",
        "",
        "## Load",
        "",
        "```python",
        "import textae  # registers the textae classes with AutoModel",
        "from transformers import AutoModel",
        f'model = AutoModel.from_pretrained("{model_dir}")',
        "```",
        "",
        "## Evaluation (held-out split)",
        "",
        f"- loss: {ev.get('loss', float('nan')):.4f}",
        f"- NLL per sentence: {ev.get('nll_per_sentence', float('nan')):.3f} nats",
        f"- PPL: {ev.get('ppl', float('nan')):.3f} ({metrics.get('token_unit', '')})",
    ]
    rec = metrics.get("reconstruction")
    if rec:
        lines += [
            f"- reconstruction exact match: {rec['exact_match']:.2%}",
            f"- reconstruction token accuracy: {rec['token_accuracy']:.2%}",
            f"- reconstruction BLEU: {rec['bleu']:.1f}",
        ]
    lines += ["", "## Recipe", "", "```yaml", yaml.safe_dump(recipe.to_dict(), sort_keys=False).rstrip(), "```", ""]
    lines += ["## All metrics", "", "```json", json.dumps({k: v for k, v in metrics.items() if k != "train_history_tail"}, indent=2), "```", ""]
    Path(model_dir, "README.md").write_text("\n".join(lines), encoding="utf-8")
