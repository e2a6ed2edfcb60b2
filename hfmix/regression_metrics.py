"""Alias of `hfmix.metrics.regression`, where `regression_scores` lives."""

from hfmix.metrics.regression import regression_scores


__all__ = ["regression_scores"]
