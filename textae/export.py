"""Export of a textae encoder as a sentence-transformers model folder.

``SentenceTransformer(OUT).encode(texts)`` then gives the vectors textae's ``model.encode(texts)``
gives: the folder holds the HF encoder with the tokenizer (module ``Transformer``), the same pooling
(``Pooling``: mean or cls) and, when the bottleneck maps the pooled vector to the latent linearly,
that map (``Dense`` with the identity activation). The tokenizer's special-token template and the
length limit match textae's, so inputs are tokenized alike.
"""

from __future__ import annotations

import inspect
import json
import tempfile
from pathlib import Path

import torch
from torch import nn

from .models.protocol import EXPORT_SENTENCE_TRANSFORMERS

ST_POOLING = {"mean": "mean", "cls": "cls"}


def _check_exportable(model) -> nn.Linear | None:
    if not model.offers(EXPORT_SENTENCE_TRANSFORMERS):
        raise ValueError(f"{type(model).__name__} has no sentence encoder to export")
    if model.tokenizer is None:
        raise ValueError("the model has no tokenizer attached; load it from a saved folder or set model.tokenizer")
    pooling = model.config.pooling
    if pooling not in ST_POOLING:
        raise ValueError(f"pooling {pooling!r} has no sentence-transformers equivalent; exportable poolings: {sorted(ST_POOLING)}")
    try:
        return model.bottleneck.embedding_head()
    except NotImplementedError as err:
        raise ValueError(f"cannot export: {err}") from None


def export_sentence_transformers(model, out_dir: str | Path) -> Path:
    """Writes ``model``'s encoder as a sentence-transformers folder at ``out_dir`` and returns it.

    Needs the ``[st]`` extra (sentence-transformers). Raises ValueError for a model whose embedding
    sentence-transformers cannot compute (attention pooling, a non-linear bottleneck).
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:  # pragma: no cover - the [st] extra is missing
        raise ImportError("exporting to sentence-transformers needs it: pip install 'textae[st]'") from err
    try:
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:  # pragma: no cover - sentence-transformers before 6
        from sentence_transformers import models

    head = _check_exportable(model)
    out_dir = Path(out_dir)
    specials = len(model.config.encoder_prefix_ids) + len(model.config.encoder_suffix_ids)
    with tempfile.TemporaryDirectory() as tmp:
        model.encoder.model.save_pretrained(tmp)
        model.tokenizer.save_pretrained(tmp)
        # textae truncates the text to max_seq_length tokens, then adds the template's specials
        no_pooler = _without_pooler(model.encoder.model)
        transformer = models.Transformer(tmp, max_seq_length=model.config.max_seq_length + specials, model_kwargs=no_pooler)
        modules = [transformer, models.Pooling(model.encoder.hidden_size, pooling_mode=ST_POOLING[model.config.pooling])]
        if head is not None:
            dense = models.Dense(head.in_features, head.out_features, bias=head.bias is not None, activation_function=nn.Identity())
            with torch.no_grad():
                dense.linear.weight.copy_(head.weight)
                if head.bias is not None:
                    dense.linear.bias.copy_(head.bias)
            modules.append(dense)
        SentenceTransformer(modules=modules, device="cpu").save(str(out_dir))
    if no_pooler:  # loading the folder later builds the encoder without a pooler too
        config_file = out_dir / "sentence_bert_config.json"
        config = json.loads(config_file.read_text())
        config["model_kwargs"] = {**config.get("model_kwargs", {}), **no_pooler}
        config_file.write_text(json.dumps(config, indent=2))
    return out_dir


def _without_pooler(encoder) -> dict:
    """textae drops a BERT-style encoder's pooler (sentence embeddings never use it), so the exported
    weights have none; without ``add_pooling_layer=False`` transformers would build a new random pooler
    on every load and report its weights as MISSING."""
    accepts = "add_pooling_layer" in inspect.signature(type(encoder).__init__).parameters
    return {"add_pooling_layer": False} if accepts and getattr(encoder, "pooler", "absent") is None else {}
