"""One mixing method per file: its config class (registered), its pure function, its citation."""

import warnings
from typing import Any

from hfmix.mixers.cutmix import CutMixConfig, span_mask
from hfmix.mixers.decoupled_mixup import DecoupledMixupConfig, decoupled_mixup_loss
from hfmix.mixers.fmix import FMixConfig, fmix_mask
from hfmix.mixers.geodesic_mixup import slerp
from hfmix.mixers.mixup import MixupConfig, mixup, union_mask
from hfmix.mixers.mixup_inference import MixupInferenceConfig, mixup_inference_loss
from hfmix.mixers.rankmixup import RankMixupConfig
from hfmix.mixers.regmixup import RegMixupConfig, regmixup_loss


__all__ = [
    "CutMixConfig",
    "DecoupledMixupConfig",
    "FMixConfig",
    "MixupConfig",
    "MixupInferenceConfig",
    "RankMixupConfig",
    "RegMixupConfig",
    "decoupled_mixup_loss",
    "fmix_mask",
    "mixup",
    "mixup_inference_loss",
    "regmixup_loss",
    "slerp",
    "span_mask",
    "union_mask",
]


def __getattr__(name: str) -> Any:
    """`SupReMixConfig` and `GeodesicMixupConfig` moved to `hfmix.methods` (methods with a loss and trainer of their
    own); the old names still import, with a `FutureWarning`."""
    if name in ("SupReMixConfig", "GeodesicMixupConfig"):
        import hfmix

        warnings.warn(f"hfmix.mixers.{name} moved: import hfmix.{name}.", FutureWarning, stacklevel=2)
        return getattr(hfmix, name)
    raise AttributeError(f"module 'hfmix.mixers' has no attribute {name!r}")
