"""`hfmix.mixers.cutmix`: cut-mix masks cut one contiguous span."""

import tiny
import torch

from hfmix.functional import span_mask


def test_span_masks_cut_one_contiguous_span():
    lam = torch.tensor([0.25, 0.5, 0.9, 1.0, 0.0])
    masks = span_mask(40, lam, generator=tiny.gen())
    torch.testing.assert_close(masks.sum(1), (lam.double() * 40).round().float())
    for row in masks[:3]:
        zeros = (row == 0).nonzero().squeeze(1)
        assert (zeros.diff() == 1).all()  # one span
    assert tiny.mask_segments(masks[:3]).max() <= 3
