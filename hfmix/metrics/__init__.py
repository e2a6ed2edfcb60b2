"""Metrics of trained models, one module per kind:

- `calibration`: ECE / MCE (equal-width or adaptive bins), Brier score, NLL, temperature scaling, reliability diagram;
- `classification`: `classification_scores` (accuracy, macro-F1, NLL, ECE, Brier);
- `regression`: `regression_scores` (MSE, RMSE, MAE, Pearson, Spearman);
- `embedding`: alignment, uniformity, retrieval recall@k and zero-shot classification of paired embeddings.

`hfmix.calibration`, `hfmix.regression_metrics` and `hfmix.embedding_metrics` are kept as aliases of
`calibration`, `regression` and `embedding`."""

from hfmix.metrics import calibration, classification, embedding, regression


__all__ = ["calibration", "classification", "embedding", "regression"]
