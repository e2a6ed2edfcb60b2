"""`hfmix.methods.geodesic_mixup.loss` (m²-mix, Oh et al., arXiv:2203.03897): the loss against a direct
implementation, sharded batches, edge cases, and the `GeodesicMixupLoss` runtime."""

import pytest
import tiny
import torch

from hfmix.losses import GeodesicMixupLoss, geodesic_mixup_loss
from hfmix.methods.geodesic_mixup import GeodesicMixupConfig


torch.set_num_threads(1)


@pytest.mark.parametrize(
    "options",
    [
        dict(w=1.0, s2=None, wu=0.0, s_t=None),
        dict(w=0.3, s2=14.3, wu=0.0, s_t=None),
        dict(w=0.5, s2=None, wu=0.7, s_t=7.0),
        dict(w=0.2, s2=5.0, wu=0.4, s_t=3.0),
    ],
)
def test_loss_matches_a_direct_implementation(options):
    img, txt = torch.randn(5, 6, generator=torch.Generator().manual_seed(0)), torch.randn(5, 6)
    s_i, lam, lam_u = 9.0, 0.35, 0.8
    s_t = options["s_t"] if options["s_t"] is not None else s_i
    got = geodesic_mixup_loss(
        img,
        txt,
        torch.tensor(s_i),
        lam,
        weight=options["w"],
        logit_scale_text=options["s_t"],
        mixed_logit_scale=options["s2"],
        unimodal_weight=options["wu"],
        unimodal_lam=lam_u,
    )
    want = tiny.geodesic_direct_loss(img, txt, s_i, s_t, lam, options["w"], options["s2"], options["wu"], lam_u)
    assert abs(float(got) - float(want)) < 1e-5


def test_hard_negatives_stay_in_the_denominator_of_both_terms():
    img, txt = torch.randn(4, 6, generator=torch.Generator().manual_seed(0)), torch.randn(4, 6)
    negatives = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))  # two per row
    got = geodesic_mixup_loss(img, txt, 9.0, 0.3, weight=0.5, negative_embeds=negatives, return_components=True)
    want = tiny.geodesic_direct_loss(img, txt, 9.0, 9.0, 0.3, 0.5, None, 0.0, 0.5, negatives=negatives)
    assert abs(float(got["loss"]) - float(want)) < 1e-5
    without = geodesic_mixup_loss(img, txt, 9.0, 0.3, weight=0.5, return_components=True)
    for key in ("contrastive_loss", "m2_loss"):  # more candidates in the denominator: a larger loss
        assert float(got[key]) > float(without[key])
    with pytest.raises(ValueError, match="negative_embeds must be"):
        geodesic_mixup_loss(img, txt, 9.0, negative_embeds=torch.randn(3, 5))


def test_gathered_shards_add_up_to_the_full_batch_loss_and_gradient():
    """In one process: two 'processes' with offsets into the same candidates average to the full-batch values."""
    torch.manual_seed(0)
    img, txt = torch.randn(6, 8, requires_grad=True), torch.randn(6, 8, requires_grad=True)
    scale = torch.tensor(5.0, requires_grad=True)

    def loss(*args, **kwargs):
        return geodesic_mixup_loss(
            *args, weight=0.6, unimodal_weight=0.5, unimodal_lam=0.3, logit_scale_text=scale * 0.5, **kwargs
        )

    full = loss(img, txt, scale, 0.4)
    full_grads = torch.autograd.grad(full, (img, txt, scale))
    shards = [
        loss(img[k : k + 3], txt[k : k + 3], scale, 0.4, all_image_embeds=img, all_text_embeds=txt, offset=k)
        for k in (0, 3)
    ]
    mean = (shards[0] + shards[1]) / 2
    torch.testing.assert_close(mean, full)
    for got, want in zip(torch.autograd.grad(mean, (img, txt, scale)), full_grads, strict=True):
        torch.testing.assert_close(got, want)
    shard = loss(img[3:], txt[3:], scale, 0.4, all_image_embeds=img, all_text_embeds=txt, offset=3)
    want = tiny.geodesic_direct_loss(
        img[3:].detach(), txt[3:].detach(), 5.0, 2.5, 0.4, 0.6, None, 0.5, 0.3, img.detach(), txt.detach(), 3
    )
    assert abs(float(shard.detach()) - float(want)) < 1e-5
    with pytest.raises(ValueError, match="offset"):
        geodesic_mixup_loss(img[:3], txt[:3], scale, all_image_embeds=img, all_text_embeds=txt, offset=4)


@pytest.mark.parametrize("batch", [1, 3])
def test_odd_and_single_row_batches(batch):
    img, txt = torch.randn(batch, 8, requires_grad=True), torch.randn(batch, 8, requires_grad=True)
    loss = geodesic_mixup_loss(img, txt, 10.0, 0.5, weight=1.0, unimodal_weight=1.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(img.grad).all() and torch.isfinite(txt.grad).all()
    if batch == 1:
        assert float(loss.detach()) == pytest.approx(0.0, abs=1e-6)  # nothing to contrast with


def test_loss_is_finite_in_bf16_and_the_module_draws_lambda_from_its_generator():
    img, txt = torch.randn(4, 8).bfloat16(), torch.randn(4, 8).bfloat16()
    assert torch.isfinite(geodesic_mixup_loss(img, txt, 100.0, 0.5, unimodal_weight=1.0))
    module_a, module_b = GeodesicMixupLoss(weight=1.0, seed=3), GeodesicMixupLoss(weight=1.0, seed=3)
    img, txt = torch.randn(4, 8), torch.randn(4, 8)
    assert torch.equal(module_a(img, txt, 10.0), module_b(img, txt, 10.0))  # same seed, same λ
    with pytest.raises(ValueError, match="beta"):
        GeodesicMixupLoss(beta=0.0)


def test_weight_zero_is_the_clip_loss_of_transformers_and_gradients_reach_both_towers():
    model = tiny.clip_model()
    data = tiny.paired_dataset("image", n=5)
    batch = {k: torch.tensor(data[k]) for k in data.column_names}
    out = model(**batch, return_loss=True)
    ours = geodesic_mixup_loss(out.image_embeds, out.text_embeds, model.logit_scale.exp(), 0.5, weight=0.0)
    torch.testing.assert_close(ours, out.loss)
    mixed = geodesic_mixup_loss(out.image_embeds, out.text_embeds, model.logit_scale.exp(), 0.5, weight=1.0)
    assert float(mixed.detach()) > float(ours.detach())
    mixed.backward()
    for name in (
        "logit_scale",
        "text_model.embeddings.token_embedding.weight",
        "vision_model.embeddings.patch_embedding.weight",
        "visual_projection.weight",
        "text_projection.weight",
    ):
        grad = model.get_parameter(name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_the_runtime_draws_schedules_and_computes_the_loss():
    """GeodesicMixupLoss = geodesic_mixup_loss with the drawn λ and the scheduled weights."""
    config = GeodesicMixupConfig(weight=0.4, unimodal_weight=0.2, weight_schedule="linear", mixed_logit_scale=7.0)
    runtime = GeodesicMixupLoss(config)
    img, txt = torch.randn(5, 8), torch.randn(5, 8)
    got = runtime(img, txt, 9.0, 4.0, generator=torch.Generator().manual_seed(1), progress=0.25)
    lam, lam_u = runtime.sample_lambdas(torch.Generator().manual_seed(1))
    assert runtime.last_lambdas == (lam, lam_u) and runtime.last_factor == 0.75
    want = geodesic_mixup_loss(
        img,
        txt,
        9.0,
        lam,
        weight=0.3,
        logit_scale_text=4.0,
        mixed_logit_scale=7.0,
        unimodal_weight=0.15,
        unimodal_lam=lam_u,
    )
    torch.testing.assert_close(got, want)
