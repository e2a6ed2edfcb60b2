"""Trainer subclasses and their TrainingArguments, in pairs."""

from hfmix.trainers.geodesic_mixup_trainer import GeodesicMixupTrainer
from hfmix.trainers.mix_trainer import MixTrainer
from hfmix.trainers.mix_training_args import MixTrainingArguments
from hfmix.trainers.supremix_trainer import SupReMixTrainer


__all__ = [
    "GeodesicMixupTrainer",
    "MixTrainer",
    "MixTrainingArguments",
    "SupReMixTrainer",
]
