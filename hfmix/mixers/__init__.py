"""One mixing method per file: its config class (registered), its pure function, its citation."""

from hfmix.mixers.cutmix import CutMixConfig, span_mask
from hfmix.mixers.fmix import FMixConfig, fmix_mask
from hfmix.mixers.geodesic_mixup import GeodesicMixupConfig
from hfmix.mixers.mixup import MixupConfig, mixup, union_mask
from hfmix.mixers.supremix import SupReMixConfig


__all__ = [
    "CutMixConfig",
    "FMixConfig",
    "GeodesicMixupConfig",
    "MixupConfig",
    "SupReMixConfig",
    "fmix_mask",
    "mixup",
    "span_mask",
    "union_mask",
]
