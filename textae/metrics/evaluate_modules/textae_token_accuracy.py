"""Positional token accuracy (0..1) as a local ``evaluate`` metric (no hub access)."""

import datasets
import evaluate

from textae.metrics.core import token_accuracy


class TextaeTokenAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Share of reference tokens matched at the same position.",
            citation="",
            inputs_description="predictions: list of list of int; references: list of list of int",
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("int64")), "references": datasets.Sequence(datasets.Value("int64"))}
            ),
        )

    def _compute(self, predictions, references):
        return {"token_accuracy": token_accuracy(predictions, references)}
