"""ELECTRA's measures: replaced-token detection accuracy and ROC AUC, per-class accuracy (original /
replaced / inserted), and the generator's masked-LM accuracy (Clark et al. 2020)."""

from __future__ import annotations

import torch

from ..noise.electra import ORIGINAL, RTD_CLASSES
from ..tensors import IGNORE_INDEX


def roc_auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` for the ``positive`` items (Mann–Whitney U / (n₊ n₋),
    tied scores counted half); NaN when either class is empty.

    >>> roc_auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([False, False, True, True]))
    0.75
    """
    scores = scores.detach().double().flatten()
    positive = positive.bool().flatten()
    n_pos = int(positive.sum())
    n_neg = positive.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = scores.argsort()
    _, inverse, counts = torch.unique_consecutive(scores[order], return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    mean_rank = ends - (counts.double() - 1) / 2  # 1-based average rank of each run of ties
    ranks = torch.empty_like(scores)
    ranks[order] = mean_rank[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@torch.no_grad()
def electra_report(model, dataloader, max_batches: int | None = None) -> dict:
    """Over ``dataloader`` (eval mode, so the corruption is the repeatable one):

    - ``rtd_accuracy``: share of tokens whose predicted class (original / replaced [/ inserted]) is right;
    - ``rtd_auc``: ROC AUC of 1 − p(original) for corrupted (replaced or inserted) vs original tokens;
    - ``accuracy_<class>`` and ``tokens_<class>``: accuracy within each true class and its count, and
      ``auc_<class>`` that class against the original tokens;
    - ``mlm_accuracy``: the masked LM's argmax at the masked tokens (ELECTRA's generator, or the
      masked-LM family's encoder), for a model whose loss has an ``mlm`` term;
    - ``replaced_share``: share of masked tokens the generator's sample changed.

    The RTD measures are those of a model whose loss has an ``rtd`` term; its tokens are those of the
    discriminator's input less padding and [BOS] / [EOS]. ``model`` gives its masked-LM predictions
    with ``masked_lm_predictions(output)`` and, for detection, ``output.logits`` / ``output.rtd_labels``.
    """
    terms = model.default_loss_weights()
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    probs, labels = [], []
    mlm_hits = masked = 0
    for i, batch in enumerate(dataloader):
        if max_batches is not None and i >= max_batches:
            break
        out = model(**{k: v.to(device) for k, v in batch.items()})
        mlm_logits, mlm_labels = model.masked_lm_predictions(out)
        if "mlm" in terms:
            mlm_hits += int((mlm_logits.argmax(-1) == mlm_labels).sum())
        masked += mlm_labels.numel()
        if "rtd" in terms:
            valid = out.rtd_labels != IGNORE_INDEX
            probs.append(out.logits[valid].float().softmax(-1).cpu())
            labels.append(out.rtd_labels[valid].cpu())
    model.train(was_training)
    report = {"masked_tokens": masked}
    if "mlm" in terms:
        report["mlm_accuracy"] = mlm_hits / max(1, masked)
    if not labels:
        return report
    probs, labels = torch.cat(probs), torch.cat(labels)
    predicted = probs.argmax(-1)
    corrupted_score = 1.0 - probs[:, ORIGINAL]
    report.update(
        rtd_accuracy=float((predicted == labels).double().mean()),
        rtd_auc=roc_auc(corrupted_score, labels != ORIGINAL),
        tokens=int(labels.numel()),
        replaced_share=int((labels == 1).sum()) / max(1, masked),
    )
    for index in range(probs.shape[1]):
        name, of_class = RTD_CLASSES[index], labels == index
        report[f"tokens_{name}"] = int(of_class.sum())
        report[f"accuracy_{name}"] = float((predicted[of_class] == index).double().mean()) if of_class.any() else float("nan")
        if index != ORIGINAL:
            pair = of_class | (labels == ORIGINAL)
            report[f"auc_{name}"] = roc_auc(corrupted_score[pair], of_class[pair])
    return report
