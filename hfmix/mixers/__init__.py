"""One mixing method per file: its config class (registered), its pure function, its citation."""

from hfmix.mixers.geodesic_mixup import GeodesicMixupConfig
from hfmix.mixers.mixup import MixupConfig, mixup, union_mask
from hfmix.mixers.supremix import SupReMixConfig


__all__ = ["GeodesicMixupConfig", "MixupConfig", "SupReMixConfig", "mixup", "union_mask"]
