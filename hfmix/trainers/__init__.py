"""Trainer subclasses and their TrainingArguments, in pairs."""

from hfmix.methods.geodesic_mixup.trainer import GeodesicMixupTrainer
from hfmix.methods.supremix.trainer import SupReMixTrainer
from hfmix.trainers.mix_trainer import MixTrainer
from hfmix.trainers.mix_training_args import MixTrainingArguments


__all__ = [
    "GeodesicMixupTrainer",
    "MixTrainer",
    "MixTrainingArguments",
    "SupReMixTrainer",
]
