"""How well a noise tagger (:mod:`textae.models.tagger`) tells each token's noise class: per-class
precision, recall and F1 and their macro average, over tokens whose gold class comes from the
tagged noise itself (:mod:`textae.noise.labels`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..noise import example_seed
from ..noise.labels import TAG_NAMES, TaggedNoise
from ..tensors import IGNORE_INDEX


def per_class_scores(pred: Sequence, gold: Sequence, classes: Sequence) -> dict:
    """``{class: {precision, recall, f1, support}}`` of the predictions ``pred`` against ``gold``
    (same length, items of ``classes``), and ``macro_f1``: the mean F1 over the classes that occur in
    ``gold`` (a class absent from the gold tokens says nothing of the tagger). A class never
    predicted has precision 0; F1 is 0 when precision and recall are.

    >>> s = per_class_scores(["a", "b", "a"], ["a", "a", "a"], ["a", "b"])
    >>> round(s["a"]["recall"], 3), s["b"]["precision"], s["macro_f1"]
    (0.667, 0.0, 0.8)
    """
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} gold labels")
    scores = {}
    for cls in classes:
        hits = sum(1 for p, g in zip(pred, gold) if p == cls and g == cls)
        predicted = sum(1 for p in pred if p == cls)
        support = sum(1 for g in gold if g == cls)
        precision = hits / predicted if predicted else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[cls] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    present = [scores[c]["f1"] for c in classes if scores[c]["support"]]
    scores["macro_f1"] = sum(present) / len(present) if present else 0.0
    return scores


@torch.no_grad()
def tagging_report(model, batches, max_batches: int | None = None) -> dict:
    """:func:`per_class_scores` by class name of ``model``'s argmax over ``batches`` (each with
    ``tag_labels``), over the tokens with a gold class, and ``tokens``, how many."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    preds, golds = [], []
    for i, batch in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        out = model(**{k: v.to(device) for k, v in batch.items()})
        valid = out.tag_labels != IGNORE_INDEX
        preds.append(out.logits.argmax(-1)[valid].cpu())
        golds.append(out.tag_labels[valid].cpu())
    model.train(was_training)
    pred = [TAG_NAMES[k] for k in torch.cat(preds).tolist()] if preds else []
    gold = [TAG_NAMES[k] for k in torch.cat(golds).tolist()] if golds else []
    return {**per_class_scores(pred, gold, TAG_NAMES), "tokens": len(gold)}


def score_corrupted(model, sentences: list[str], steps: Sequence[str], rate: float, seed: int = 0, batch_size: int = 64, mix: bool = False) -> dict:
    """Corrupts ``sentences`` with the tagged ``steps`` (names of
    :data:`~textae.noise.labels.TAGGED_STEPS`) at ``rate`` and scores ``model``'s tags on them
    (:func:`tagging_report`). Every step in turn, or with ``mix`` one step per sentence drawn at
    random, as the robustness curve's mix does. Sentence i is seeded by ``example_seed(seed, 0, i)``,
    so every model sees the same corruption. ``replace_words`` draws from the model's tokenizer's words."""
    import random

    from ..data import TextAECollator
    from ..data.tokenization import encode_texts
    from ..models.tagger import whole_words

    tokenizer, c = model._require_tokenizer(), model.config
    vocabulary = whole_words(tokenizer)
    ids = encode_texts(tokenizer, sentences, c.max_seq_length, warn=False)
    rows = [{"input_ids": x, "text": text, "noise_seed": example_seed(seed, 0, i)} for i, (x, text) in enumerate(zip(ids, sentences))]
    if mix:
        drawn = [random.Random(example_seed(seed, 1, i)).choice(list(steps)) for i in range(len(rows))]
        groups = [([name], [r for r, d in zip(rows, drawn) if d == name]) for name in steps]
    else:
        groups = [(list(steps), rows)]

    def batches():
        for names, members in groups:
            noise = TaggedNoise([{"name": name, "rate": rate} for name in names], vocabulary)
            collator = TextAECollator(c.pad_token_id, c.bos_token_id, c.eos_token_id, mode="lm", tokenizer=tokenizer, max_length=c.max_seq_length, tagged_noise=noise)
            yield from (collator(members[i : i + batch_size]) for i in range(0, len(members), batch_size))

    return tagging_report(model, batches())


def score_lines(report: dict) -> list[str]:
    """The printed lines of a :func:`tagging_report`."""
    lines = [f"tagging: macro-F1 {report['macro_f1']:.4f} over {report['tokens']} tokens"]
    for name in TAG_NAMES:
        s = report[name]
        lines.append(f"  {name:<10} P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}  ({s['support']} tokens)")
    return lines
