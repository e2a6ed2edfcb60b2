"""One mixing method per file: its config class (registered), its pure function, its citation."""

from hfmix.mixers.mixup import MixupConfig, mixup, union_mask
from hfmix.mixers.supremix import SupReMixConfig


__all__ = ["MixupConfig", "SupReMixConfig", "mixup", "union_mask"]
