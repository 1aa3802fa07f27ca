"""Corpus BLEU ×100 as a local ``evaluate`` metric (no hub access)."""

import datasets
import evaluate

from textae.metrics.core import corpus_bleu


class TextaeBleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Corpus BLEU x100 over whitespace tokens, one reference per prediction.",
            citation="Papineni et al. 2002",
            inputs_description="predictions: list of str; references: list of str",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, max_n=4):
        return {"bleu": corpus_bleu(predictions, references, max_n=max_n)}
