"""The pure tensor functions of hfmix, in one namespace (like `torch.nn.functional`)."""

from hfmix.losses.soft_target_cross_entropy import soft_target_cross_entropy
from hfmix.methods.geodesic_mixup.loss import geodesic_mixup_loss
from hfmix.methods.supremix.loss import supremix_loss
from hfmix.mixers.cutmix import span_mask
from hfmix.mixers.fmix import fmix_mask
from hfmix.mixers.geodesic_mixup import slerp
from hfmix.mixers.mixup import mixup, union_mask
from hfmix.pairing import dataset_label_similarity_partners, label_similarity_partners, random_partners
from hfmix.sampling import sample_lambda, sample_mix_plan
from hfmix.targets import interpolate_losses, mix_targets


__all__ = [
    "dataset_label_similarity_partners",
    "fmix_mask",
    "geodesic_mixup_loss",
    "interpolate_losses",
    "label_similarity_partners",
    "mix_targets",
    "mixup",
    "random_partners",
    "sample_lambda",
    "sample_mix_plan",
    "slerp",
    "soft_target_cross_entropy",
    "span_mask",
    "supremix_loss",
    "union_mask",
]
