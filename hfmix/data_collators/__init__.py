"""Data collators that wrap any Hugging Face collator."""

from hfmix.data_collators.mix_data_collator import MixDataCollator


__all__ = ["MixDataCollator"]
