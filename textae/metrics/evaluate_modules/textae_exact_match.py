"""Exact match (0..1) as a local ``evaluate`` metric (no hub access)."""

import datasets
import evaluate

from textae.metrics.core import exact_match


class TextaeExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Share of predictions equal to their reference after whitespace normalisation.",
            citation="",
            inputs_description="predictions: list of str; references: list of str",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        return {"exact_match": exact_match(predictions, references)}
