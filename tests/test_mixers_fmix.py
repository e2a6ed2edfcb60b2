"""`hfmix.mixers.fmix`: FMix masks keep exactly the requested share, with the requested smoothness."""

import pytest
import tiny
import torch

from hfmix.functional import fmix_mask


@pytest.mark.parametrize("length", [1, 7, 100, 513])
def test_fmix_masks_keep_exactly_the_requested_share(length):
    lam = torch.tensor([0.0, 0.13, 0.5, 0.77, 1.0])
    masks = fmix_mask(length, lam, generator=tiny.gen())
    assert masks.shape == (5, length) and set(masks.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(masks.sum(1), (lam.double() * length).round().float())
    assert (masks.mean(1) - lam).abs().max() <= 0.5 / length + 1e-6
    torch.testing.assert_close(masks, fmix_mask(length, lam, generator=tiny.gen()))  # the generator decides
    shared = fmix_mask(length, torch.full((3,), 0.4), generator=tiny.gen(), shared=True)
    assert (shared == shared[0]).all()


def test_fmix_smoothness_follows_the_decay_power():
    lam = torch.full((200,), 0.5)
    counts = {
        d: tiny.mask_segments(fmix_mask(512, lam, generator=tiny.gen(1), decay_power=d)).mean()
        for d in (0.0, 1.0, 3.0)
    }
    assert counts[0.0] > 100  # white noise: a coin flip per position (~256 segments)
    assert counts[0.0] > 4 * counts[1.0] and counts[1.0] > 2 * counts[3.0]
    assert counts[3.0] < 12  # FMix's default: a few long segments
