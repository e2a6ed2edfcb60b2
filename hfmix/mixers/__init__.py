"""One mixing method per file: its config class (registered), its pure function, its citation."""

from hfmix.mixers.mixup import MixupConfig, mixup, union_mask


__all__ = ["MixupConfig", "mixup", "union_mask"]
