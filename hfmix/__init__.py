"""hfmix: the mixup family of data augmentation for Hugging Face text and audio models."""

__version__ = "0.1.0"

from hfmix import calibration, embedding_metrics, functional, losses, metrics, regression_metrics  # noqa: E402
from hfmix.config import MixConfig  # noqa: E402
from hfmix.data_collators import MixDataCollator  # noqa: E402
from hfmix.methods.geodesic_mixup import GeodesicMixupConfig  # noqa: E402
from hfmix.methods.supremix import SupReMixConfig  # noqa: E402
from hfmix.mixers import (  # noqa: E402
    CutMixConfig,
    DecoupledMixupConfig,
    FMixConfig,
    MixupConfig,
    MixupInferenceConfig,
    RankMixupConfig,
    RegMixupConfig,
)
from hfmix.registry import get_mix_config, list_mixers, register_mixer  # noqa: E402
from hfmix.sampling import MixPlan  # noqa: E402
from hfmix.trainers import GeodesicMixupTrainer, MixTrainer, MixTrainingArguments, SupReMixTrainer  # noqa: E402


__all__ = [
    "CutMixConfig",
    "DecoupledMixupConfig",
    "FMixConfig",
    "GeodesicMixupConfig",
    "GeodesicMixupTrainer",
    "MixConfig",
    "MixDataCollator",
    "MixPlan",
    "MixTrainer",
    "MixTrainingArguments",
    "MixupConfig",
    "MixupInferenceConfig",
    "RankMixupConfig",
    "RegMixupConfig",
    "SupReMixConfig",
    "SupReMixTrainer",
    "__version__",
    "calibration",
    "embedding_metrics",
    "functional",
    "get_mix_config",
    "list_mixers",
    "losses",
    "metrics",
    "register_mixer",
    "regression_metrics",
]
