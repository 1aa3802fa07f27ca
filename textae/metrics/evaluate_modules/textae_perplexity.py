"""Perplexity from per-sentence NLL sums and token counts, as a local ``evaluate`` metric."""

import datasets
import evaluate

from textae.metrics.core import perplexity


class TextaePerplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="exp(sum of NLL in nats / number of tokens); the caller states the token unit.",
            citation="",
            inputs_description="nll: per-sentence NLL sums (nats); tokens: per-sentence token counts",
            features=datasets.Features({"nll": datasets.Value("float64"), "tokens": datasets.Value("int64")}),
        )

    def _compute(self, nll, tokens):
        return {"perplexity": perplexity(sum(nll), sum(tokens)), "nll_per_sentence": sum(nll) / max(1, len(nll))}
