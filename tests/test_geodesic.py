"""Geodesic multi-modal mixup (m²-mix, Oh et al., arXiv:2203.03897): slerp, the loss, the config, the trainer on
tiny CLIP / CLAP, the embedding metrics, the sentence-transformers loss, and a real 2-process run."""

import json
import math

import pytest
import tiny
import torch
import torch.nn.functional as F
import transformers as tf
from training_checks import st_trainer, train_and_check

from hfmix.config import MixConfig
from hfmix.embedding_metrics import (
    alignment,
    recall_at_k,
    retrieval_metrics,
    uniformity,
    zero_shot_accuracy,
    zero_shot_logits,
)
from hfmix.losses import GeodesicMixupLoss, geodesic_mixup_loss
from hfmix.methods.geodesic_mixup import GeodesicMixupConfig
from hfmix.methods.geodesic_mixup.trainer import GeodesicMixupTrainer
from hfmix.mixers.geodesic_mixup import slerp
from hfmix.registry import get_mix_config


torch.set_num_threads(1)


def unit(*shape, seed=0, dtype=torch.float64):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype), dim=-1)


def formula(a, b, lam):
    """The paper's m_λ(a, b) = [sin(λθ)a + sin((1−λ)θ)b] / sin θ, θ = arccos⟨a, b⟩ (no guards)."""
    theta = torch.acos((a * b).sum(-1, keepdim=True))
    return (torch.sin(lam * theta) * a + torch.sin((1 - lam) * theta) * b) / torch.sin(theta)


# ------------------------------------------------------------------------------------------------------ slerp
@pytest.mark.parametrize("lam_kind", ["float", "scalar", "rows", "column"])
def test_slerp_matches_the_formula_and_stays_on_the_sphere(lam_kind):
    a, b = unit(7, 16, seed=1), unit(7, 16, seed=2)
    lam_rows = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    lam = {
        "float": 0.3,
        "scalar": torch.tensor(0.3, dtype=torch.float64),
        "rows": lam_rows,
        "column": lam_rows[:, None],
    }[lam_kind]
    expected = formula(a, b, lam_rows[:, None] if lam_kind in ("rows", "column") else 0.3)
    out = slerp(a, b, lam)
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=0)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(7, dtype=torch.float64))
    out32 = slerp(a.float(), b.float(), lam)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, expected.float(), atol=2e-6, rtol=0)


def test_slerp_endpoints_and_geodesic_angles():
    a, b = unit(5, 8, seed=3).float(), unit(5, 8, seed=4).float()
    torch.testing.assert_close(slerp(a, b, 1.0), a, atol=1e-6, rtol=0)
    torch.testing.assert_close(slerp(a, b, 0.0), b, atol=1e-6, rtol=0)
    theta = torch.acos((a * b).sum(-1))
    mid = slerp(a, b, 0.25)  # λ is the weight on a: the point 3/4 of the way from a to b
    torch.testing.assert_close(torch.acos((mid * a).sum(-1).clamp(-1, 1)), 0.75 * theta, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.acos((mid * b).sum(-1).clamp(-1, 1)), 0.25 * theta, atol=1e-4, rtol=0)


@pytest.mark.parametrize("case", ["identical", "nearly_identical", "antipodal", "nearly_antipodal"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_slerp_is_finite_with_finite_gradients_at_the_singular_pairs(case, dtype):
    a = unit(6, 8, seed=5, dtype=torch.float32)
    noise = 1e-4 * unit(6, 8, seed=6, dtype=torch.float32)
    b = {
        "identical": a,
        "nearly_identical": F.normalize(a + noise, dim=-1),
        "antipodal": -a,
        "nearly_antipodal": F.normalize(-a + noise, dim=-1),
    }[case]
    for lam in (0.0, 0.3, 0.5, 1.0, torch.rand(6, generator=torch.Generator().manual_seed(0))):
        x, y = a.clone().to(dtype).requires_grad_(), b.clone().to(dtype).requires_grad_()
        out = slerp(x, y, lam)
        assert out.dtype == dtype
        assert torch.isfinite(out).all()
        torch.testing.assert_close(
            out.float().norm(dim=-1), torch.ones(6), atol=1e-2 if dtype != torch.float32 else 1e-5, rtol=0
        )
        (out.float() * torch.arange(8.0)).sum().backward()
        assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    if case == "identical":
        torch.testing.assert_close(slerp(a, a, 0.3), a)
    if case == "antipodal":  # the documented half circle: ≈a at λ=1, ≈b at λ=0, ⟂ both at λ=1/2
        torch.testing.assert_close(slerp(a, b, 1.0), a, atol=1e-6, rtol=0)
        torch.testing.assert_close(slerp(a, b, 0.0), b, atol=1e-6, rtol=0)
        assert (slerp(a, b, 0.5) * a).sum(-1).abs().max() < 1e-6


def test_slerp_is_continuous_across_its_small_angle_switch():
    a = unit(1, 8, seed=7).float()
    direction = F.normalize(unit(1, 8, seed=8).float() - (unit(1, 8, seed=8).float() * a).sum() * a, dim=-1)
    outs = []
    for angle in (0.0099, 0.0101):  # either side of SMALL_ANGLE = 0.01
        b = math.cos(angle) * a + math.sin(angle) * direction
        outs.append(slerp(a, b, 0.3))
        expected = math.cos(0.7 * angle) * a + math.sin(0.7 * angle) * direction  # (1 − λ)·θ from a
        torch.testing.assert_close(outs[-1], expected, atol=1e-6, rtol=0)


def test_slerp_rejects_bad_shapes():
    a = unit(4, 8).float()
    with pytest.raises(ValueError, match="same shape"):
        slerp(a, a[:3], 0.5)
    with pytest.raises(ValueError, match="lam must be"):
        slerp(a, a, torch.rand(3))


# ------------------------------------------------------------------------------------------------------- loss
def direct_loss(img, txt, s_i, s_t, lam, w, s2, wu, lam_u, all_img=None, all_txt=None, offset=0, negatives=None):
    """A slow, row-by-row float64 implementation of the documented loss (hard negatives: extra image → text
    candidates of the contrastive and m²-mix terms)."""
    negatives = [] if negatives is None else list(F.normalize(negatives.double(), dim=-1))
    img, txt = F.normalize(img.double(), dim=-1), F.normalize(txt.double(), dim=-1)
    all_img = img if all_img is None else F.normalize(all_img.double(), dim=-1)
    all_txt = txt if all_txt is None else F.normalize(all_txt.double(), dim=-1)
    n = len(all_img)
    hard = [formula(all_img[j], all_txt[j], lam) for j in range(n)]
    # the mirror of the middle row of an odd batch is itself: slerp(a, a, λ) = a
    mixed_img = [formula(all_img[j], all_img[n - 1 - j], lam_u) if 2 * j != n - 1 else all_img[j] for j in range(n)]
    mixed_txt = [formula(all_txt[j], all_txt[n - 1 - j], lam_u) if 2 * j != n - 1 else all_txt[j] for j in range(n)]

    def ce(logits, target):
        return -(target * torch.log_softmax(torch.stack(logits), 0)).sum()

    def onehot(g):
        return torch.eye(n, dtype=torch.float64)[g]

    def extra(g):  # one-hot over the n candidates and the hard negatives
        return torch.eye(n + len(negatives), dtype=torch.float64)[g]

    total = 0.0
    for i in range(len(img)):
        g = offset + i
        soft = lam_u * onehot(g) + (1 - lam_u) * onehot(n - 1 - g)
        clip = (
            ce([s_i * img[i] @ all_txt[j] for j in range(n)] + [s_i * img[i] @ x for x in negatives], extra(g))
            + ce([s_t * txt[i] @ all_img[j] for j in range(n)], onehot(g))
        ) / 2
        m_i, m_t = (s_i, s_t) if s2 is None else (s2, s2)
        m2 = (
            ce(
                [m_i * img[i] @ (all_txt[g] if j == g else hard[j]) for j in range(n)]
                + [m_i * img[i] @ x for x in negatives],
                extra(g),
            )
            + ce([m_t * txt[i] @ (all_img[g] if j == g else hard[j]) for j in range(n)], onehot(g))
        ) / 2
        uni = (
            ce([s_i * mixed_img[g] @ all_txt[j] for j in range(n)], soft)
            + ce([s_t * txt[i] @ mixed_img[k] for k in range(n)], soft)
        ) / 2 + (
            ce([s_i * img[i] @ mixed_txt[k] for k in range(n)], soft)
            + ce([s_t * mixed_txt[g] @ all_img[j] for j in range(n)], soft)
        ) / 2
        total = total + clip + w * m2 + wu * uni
    return total / len(img)


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
    want = direct_loss(img, txt, s_i, s_t, lam, options["w"], options["s2"], options["wu"], lam_u)
    assert abs(float(got) - float(want)) < 1e-5


def test_hard_negatives_stay_in_the_denominator_of_both_terms():
    img, txt = torch.randn(4, 6, generator=torch.Generator().manual_seed(0)), torch.randn(4, 6)
    negatives = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))  # two per row
    got = geodesic_mixup_loss(img, txt, 9.0, 0.3, weight=0.5, negative_embeds=negatives, return_components=True)
    want = direct_loss(img, txt, 9.0, 9.0, 0.3, 0.5, None, 0.0, 0.5, negatives=negatives)
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
    want = direct_loss(
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


# ----------------------------------------------------------------------------------------------------- config
def test_config_round_trip_validation_and_schedules(tmp_path):
    config = GeodesicMixupConfig(weight=0.1, mixed_logit_scale=14.3, unimodal_weight=0.05, weight_schedule="cosine")
    config.save_pretrained(tmp_path)
    for loaded in (MixConfig.from_pretrained(tmp_path), GeodesicMixupConfig.from_pretrained(tmp_path)):
        assert type(loaded) is GeodesicMixupConfig and loaded == config
    assert json.loads((tmp_path / "mix_config.json").read_text())["mix_type"] == "geodesic_mixup"
    assert get_mix_config("geodesic_mixup", beta=2.0).beta == 2.0
    for kwargs, field in [
        ({"beta": 0.0}, "beta"),
        ({"weight": -1.0}, "weight"),
        ({"mixed_logit_scale": 0.0}, "mixed_logit_scale"),
        ({"weight_schedule": "step"}, "weight_schedule"),
        ({"weight": "big"}, "weight"),
    ]:
        with pytest.raises(ValueError, match=field):
            GeodesicMixupConfig(**kwargs)
    factors = {
        s: GeodesicMixupLoss(GeodesicMixupConfig(weight_schedule=s)).schedule_factor(0.5, epoch=2.3)
        for s in ("constant", "linear", "cosine", "inverse_epoch")
    }
    assert factors == pytest.approx({"constant": 1.0, "linear": 0.5, "cosine": 0.5, "inverse_epoch": 1 / 3})
    runtime = GeodesicMixupLoss(config)
    assert runtime.config == config and GeodesicMixupLoss(config, weight=0.3).config.weight == 0.3
    lam, lam_u = runtime.sample_lambdas(torch.Generator().manual_seed(0))
    assert (lam, lam_u) == runtime.sample_lambdas(torch.Generator().manual_seed(0)) and 0 < lam < 1
    with pytest.raises(ValueError, match="Unknown GeodesicMixupConfig options"):
        GeodesicMixupLoss(wieght=0.1)


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


# ---------------------------------------------------------------------------------------------------- trainer
def trainer_args(tmp_path, **kw):
    defaults = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        max_steps=3,
        learning_rate=5e-3,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=0,
        logging_steps=1,
        logging_nan_inf_filter=False,  # a NaN loss must show as NaN, not as 0.0
        remove_unused_columns=False,
    )
    return tf.TrainingArguments(**{**defaults, **kw})


def test_trainer_fine_tunes_clip_saves_the_recipe_and_reports_embedding_metrics(tmp_path):
    model = tiny.clip_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = GeodesicMixupConfig(weight=0.5, weight_schedule="linear")
    trainer = GeodesicMixupTrainer(
        model=model,
        args=trainer_args(tmp_path, max_steps=3, save_strategy="steps", save_steps=3),
        train_dataset=tiny.paired_dataset("image", n=10),
        eval_dataset=tiny.paired_dataset("image", n=7, seed=1),
        mix_config=config,
    )
    train_and_check(trainer)
    logs = [entry for entry in trainer.state.log_history if "m2_loss" in entry]
    assert logs and [entry["mix_weight"] for entry in logs] == pytest.approx([0.5, 0.5 * 2 / 3, 0.5 / 3], abs=1e-6)
    for name in ("logit_scale", "text_projection.weight", "visual_projection.weight"):
        assert not torch.equal(before[name], model.get_parameter(name)), name
    assert GeodesicMixupConfig.from_pretrained(tmp_path / "checkpoint-3") == config
    metrics = trainer.evaluate()
    for key in ("eval_loss", "eval_i2t_recall@1", "eval_t2i_recall@5", "eval_alignment", "eval_uniformity"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert "geodesic_mixup" in model.model_tags and "hfmix" in model.model_tags


def test_trainer_fine_tunes_clap_with_two_temperatures_and_unimodal_terms(tmp_path):
    model = tiny.clap_model()
    before = (model.logit_scale_a.item(), model.logit_scale_t.item())
    trainer = GeodesicMixupTrainer(
        model=model,
        args=trainer_args(tmp_path, max_steps=2, per_device_train_batch_size=3),
        train_dataset=tiny.paired_dataset("audio", n=6),
        mix_config={"mix_type": "geodesic_mixup", "weight": 0.3, "unimodal_weight": 0.2, "mixed_logit_scale": 14.3},
        compute_embedding_metrics=False,
    )
    train_and_check(trainer)
    assert model.logit_scale_a.item() != before[0] and model.logit_scale_t.item() != before[1]
    assert any("unimodal_loss" in entry for entry in trainer.state.log_history)


def test_trainer_odd_last_batch_and_contract_errors(tmp_path):
    trainer = GeodesicMixupTrainer(
        model=tiny.clip_model(),
        args=trainer_args(tmp_path, max_steps=-1, num_train_epochs=1, per_device_train_batch_size=2),
        train_dataset=tiny.paired_dataset("image", n=5),  # batches of 2, 2, 1
    )
    train_and_check(trainer)
    assert trainer.state.global_step == 3
    from hfmix.trainers.mix_training_args import MixTrainingArguments

    common = dict(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    args = MixTrainingArguments(**common, mix_config={"mix_type": "geodesic_mixup", "weight": 0.1})
    assert GeodesicMixupTrainer(model=tiny.clip_model(), args=args).mix_config.weight == 0.1
    default = GeodesicMixupTrainer(model=tiny.clip_model(), args=MixTrainingArguments(**common))
    assert default.mix_config == GeodesicMixupConfig()  # MixTrainingArguments' default recipe is not geodesic
    with pytest.raises(TypeError, match="GeodesicMixupConfig"):
        GeodesicMixupTrainer(model=tiny.clip_model(), args=trainer_args(tmp_path), mix_config="mixup")
    with pytest.raises(TypeError, match="logit scale"):
        GeodesicMixupTrainer(model=tiny.text_model(), args=trainer_args(tmp_path))


def test_two_process_run_matches_the_single_process_full_batch(tmp_path):
    report = tmp_path / "report.json"
    tiny.run_two_processes("distributed_geodesic.py", str(report), timeout=180)
    result = json.loads(report.read_text())
    result.pop("max_grad_diff")
    assert result == {
        "world_size": 2,
        "same_lambda_as_one_process": True,
        "loss_matches": True,
        "grads_match": True,
        "logit_scale_grad_matches": True,
        "finite_weights_that_moved": True,
        "finite_losses_that_moved": True,
        "replicas_in_sync": True,
        "sentence_transformers_not_imported": True,  # `import hfmix` and these modules leave it optional
    }


# ---------------------------------------------------------------------------------------------------- metrics
def test_embedding_metrics_against_hand_computed_values():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    y = torch.tensor([[0.0, 2.0], [0.0, 3.0], [-1.0, 0.1]])  # normalised inside: (0,1), (0,1), ≈(-1, 0.1)
    y_hat = F.normalize(y, dim=-1)
    assert alignment(x, y) == pytest.approx(((x - y_hat).norm(dim=-1) ** 2).mean().item(), rel=1e-6)
    assert alignment(x, x) == pytest.approx(0.0)
    # pairwise squared distances of x: 2, 4, 2 → log mean exp(-2·d²)
    assert uniformity(x) == pytest.approx(math.log((2 * math.exp(-4) + math.exp(-8)) / 3), rel=1e-6)
    # query 0 = (1,0): sims to y_hat = 0, 0, ≈-0.995 → correct item 0 has rank 0 (tie with item 1 counts for it)
    # query 1 = (0,1): sims 1, 1, 0.0995 → rank 0; query 2 = (-1,0): sims 0, 0, 0.995 → rank 0
    assert recall_at_k(x, y, ks=(1, 2)) == {1: 1.0, 2: 1.0}
    assert recall_at_k(y, x, ks=(1,)) == {1: pytest.approx(2 / 3)}  # y_hat[0]=(0,1) prefers x[1]
    metrics = retrieval_metrics(x, y, ks=(1,))
    assert set(metrics) == {"i2t_recall@1", "t2i_recall@1", "alignment", "uniformity"}
    classes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    logits = zero_shot_logits(x, classes, logit_scale=10.0)
    torch.testing.assert_close(logits, torch.tensor([[10.0, 0.0], [0.0, 10.0], [-10.0, 0.0]]))
    assert zero_shot_accuracy(x, classes, torch.tensor([0, 1, 0])) == pytest.approx(2 / 3)  # row 2 → class 1
    ensemble = torch.stack([classes, classes * 3], dim=1)  # (C, P=2, D) prompt ensemble
    torch.testing.assert_close(zero_shot_logits(x, ensemble, 10.0), logits)
    with pytest.raises(ValueError, match="at least 2"):
        uniformity(x[:1])


# ------------------------------------------------------------------------------------------ sentence-transformers
def test_sentence_transformers_loss_trains_a_tiny_model(tmp_path):
    pytest.importorskip("sentence_transformers")
    from datasets import Dataset

    from hfmix.integrations.sentence_transformers import GeodesicMixupRankingLoss

    texts = [r["text"] for r in tiny.sentiment_rows(24)]
    model = tiny.sentence_transformer(tmp_path / "bert", texts)
    loss = GeodesicMixupRankingLoss(model, weight=0.5)
    assert loss.get_config_dict()["weight"] == 0.5 and "oh2023geodesic" in loss.citation
    assert isinstance(loss.m2mix, GeodesicMixupLoss) and loss.m2mix.config.weight == 0.5
    data = Dataset.from_dict({"anchor": texts[:16], "positive": [t.upper() for t in texts[:16]]})
    trainer = st_trainer(tmp_path, model, data, loss)
    train_and_check(trainer)
    assert any("geodesic_mixup" in entry for entry in trainer.state.log_history)
    with pytest.raises(ValueError, match=r"\(anchor, positive\) pairs or MNRL-style rows.*got 1 text column"):
        loss([{"input_ids": torch.ones(2, 3, dtype=torch.long)}], None)


def test_sentence_transformers_loss_trains_on_nli_triplets_with_hard_negatives(tmp_path):
    """(anchor, positive, negative): the MNRL format; the negatives are candidates of every anchor."""
    pytest.importorskip("sentence_transformers")
    from datasets import Dataset

    from hfmix.integrations.sentence_transformers import GeodesicMixupRankingLoss

    rows = tiny.sentiment_rows(30)
    texts = [r["text"] for r in rows]
    model = tiny.sentence_transformer(tmp_path / "bert", texts)
    nli = Dataset.from_dict(
        {"anchor": texts[:15], "positive": [t.upper() for t in texts[:15]], "negative": texts[15:30]}
    )
    loss = GeodesicMixupRankingLoss(model, weight=0.5)
    train_and_check(st_trainer(tmp_path, model, nli, loss))


def test_sentence_transformers_hard_negatives_match_mnrl_at_weight_zero_and_the_formula(tmp_path):
    pytest.importorskip("sentence_transformers")
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from hfmix.integrations.sentence_transformers import GeodesicMixupRankingLoss

    texts = [r["text"] for r in tiny.sentiment_rows(24)]
    model = tiny.sentence_transformer(tmp_path / "bert", texts).eval()
    anchor, positive, negative = (torch.randn(6, 32, generator=torch.Generator().manual_seed(k)) for k in range(3))
    mnrl = MultipleNegativesRankingLoss(
        model, scale=20.0, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
    )
    plain = GeodesicMixupRankingLoss(model, weight=0.0).compute_loss_from_embeddings([anchor, positive, negative])
    want = mnrl.compute_loss_from_embeddings([anchor, positive, negative], None)
    torch.testing.assert_close(plain["contrastive"], want)
    loss = GeodesicMixupRankingLoss(model, weight=0.5, seed=4)
    parts = loss.compute_loss_from_embeddings([anchor, positive, negative])
    lam, _ = GeodesicMixupLoss(seed=4).sample_lambdas()
    expected = direct_loss(anchor, positive, 20.0, 20.0, lam, 0.5, None, 0.0, 0.5, negatives=negative)
    assert abs(float(parts["contrastive"] + parts["geodesic_mixup"]) - float(expected)) < 1e-5


def test_an_evaluation_set_with_no_batch_warns(tmp_path, caplog):
    import logging

    from hfmix import GeodesicMixupTrainer

    trainer = GeodesicMixupTrainer(
        model=tiny.clip_model(),
        args=tf.TrainingArguments(
            output_dir=str(tmp_path),
            per_device_eval_batch_size=8,
            dataloader_drop_last=True,
            report_to=[],
            use_cpu=True,
        ),
        eval_dataset=tiny.paired_dataset(n=4),
    )
    with caplog.at_level(logging.WARNING):
        metrics = trainer.evaluate()
    assert not any("recall" in k for k in metrics) and "gave no batch" in caplog.text
