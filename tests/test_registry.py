"""`hfmix.registry`: the one registry: mix_type names, the aliases users know recipes by, recipes without a mix_type,
registering a mixer, and the invariants every registered batch mixer keeps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hfmix import MixConfig, MixTrainingArguments, MixupConfig, get_mix_config, register_mixer
from hfmix.functional import (
    mix_targets,
    mixup,
    union_mask,
)
from hfmix.mixers.masked_mixing import MaskedMixupConfig
from hfmix.registry import RECIPE_ALIASES, get_mixer_class, list_mixers, list_recipes
from hfmix.sampling import make_generator
from hfmix.signal_mixing import mix_continuous_inputs


@pytest.mark.parametrize(
    ("alias", "level"), [("tmix", "hidden"), ("manifold_mixup", "hidden"), ("embedding_mixup", "embeddings")]
)
def test_common_names_resolve_to_their_recipe(alias, level):
    config = get_mix_config(alias)
    assert type(config) is MixupConfig and config.level == level
    assert get_mix_config(alias, alpha=16.0).alpha == 16.0
    assert get_mix_config({"mix_type": alias, "alpha": 2.0}) == MixupConfig(level=level, alpha=2.0)


def test_every_name_is_listed_with_what_it_builds():
    recipes = list_recipes()
    assert set(recipes) == set(list_mixers()) | set(RECIPE_ALIASES)
    assert recipes["tmix"] == "MixupConfig(level='hidden')"


def test_a_recipe_without_mix_type_is_mixup():
    assert get_mix_config({"level": "hidden", "alpha": 16.0}) == MixupConfig(level="hidden", alpha=16.0)
    args = MixTrainingArguments(output_dir="unused", mix_config='{"level": "pooled"}', report_to=[])
    assert args.mix_config == MixupConfig(level="pooled")


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="tmix"):
        get_mix_config("t-mix")


def test_register_mixer_rejects_bad_names_and_duplicates():
    with pytest.raises(ValueError, match="lower-case"):
        register_mixer("MyMix")
    with pytest.raises(ValueError, match="already registered"):

        @register_mixer("mixup")
        @dataclasses.dataclass
        class Other(MixConfig):
            pass


BATCH_MIXERS = [get_mixer_class(n) for n in list_mixers() if hasattr(get_mixer_class(n), "sample_plan")]


LENGTH = 7


def own_share(weights, valid, index, correction):
    """Each row's own share of what was really mixed, computed directly: the mean weight ('none'), or by length
    with padding excluded ('length': positions real in both rows count by their weight, positions real in one row
    count for that row)."""
    w = weights if weights.dim() == 2 else weights[:, None].expand(valid.shape)
    if correction == "none":
        return w.mean(1)
    both, own_only, partner_only = valid & valid[index], valid & ~valid[index], ~valid & valid[index]
    own = (w * both).sum(1) + own_only.sum(1)
    partner = ((1 - w) * both).sum(1) + partner_only.sum(1)
    return own / (own + partner)


@pytest.mark.parametrize("cls", BATCH_MIXERS, ids=lambda c: c.mix_type)
@pytest.mark.parametrize("batch_size", [1, 5, 8])
def test_registry_invariants(cls, batch_size):
    """Every registered batch mixer, applied with its own weights as the library applies them (FMix and cut-mix:
    their per-position masks, `plan.weights(length)`): shape kept, padding never mixed in, same seed same output,
    λ = 1 the identity, soft targets that sum to 1 and give each row its realised share."""
    config = cls(level="inputs")
    x = torch.randn(batch_size, LENGTH, 3)
    mask = torch.ones(batch_size, LENGTH, dtype=torch.long)
    mask[0, 4:] = 0
    x[mask == 0] = 1e6  # poison the padding
    valid = mask.bool()
    plan = config.sample_plan(batch_size, generator=make_generator(1, 2, 3))
    again = config.sample_plan(batch_size, generator=make_generator(1, 2, 3))
    torch.testing.assert_close(plan.index, again.index)  # same seed, same plan ...
    weights = plan.weights(LENGTH)  # the mixer's own weights: one λ per row, or per-position masks
    if isinstance(config, MaskedMixupConfig):  # {0, 1} masks that keep each row's share λ (within rounding)
        assert plan.masks is not None and weights.shape == (batch_size, LENGTH)
        assert ((weights == 0) | (weights == 1)).all()
        assert (weights.mean(1) - plan.lam).abs().max() <= 0.5 / LENGTH + 1e-6
    else:
        assert plan.masks is None and weights.shape == (batch_size,)
    torch.testing.assert_close(weights, again.weights(LENGTH))  # ... the same weights ...
    out = mixup(x, plan.index, weights, mask)
    inputs = {"inputs_embeds": x, "attention_mask": mask}
    mixed, target_plan = mix_continuous_inputs(inputs, plan, config.lambda_correction)
    torch.testing.assert_close(mixed["inputs_embeds"], out)  # the library mixes by these weights
    again_mixed, _ = mix_continuous_inputs(inputs, again, config.lambda_correction)
    torch.testing.assert_close(again_mixed["inputs_embeds"], out)  # ... and the same output
    assert out.shape == x.shape  # shape kept
    assert out[union_mask(mask, plan.index).bool()].abs().max() < 100  # padding never mixed in
    identity = mixup(x, plan.index, torch.ones_like(weights), mask)
    torch.testing.assert_close(identity[valid], x[valid])  # λ = 1 is the identity
    share = own_share(weights, valid, plan.index, config.lambda_correction)
    torch.testing.assert_close(target_plan.lam, share)  # the targets' λ is each row's realised share
    labels = torch.randint(0, 4, (batch_size,), generator=torch.Generator().manual_seed(0))
    targets = mix_targets(labels, target_plan, num_classes=4)
    torch.testing.assert_close(targets.sum(-1), torch.ones(batch_size))  # soft targets sum to 1 ...
    differ = labels != labels[plan.index]
    torch.testing.assert_close(targets[differ, labels[differ]], share[differ])  # ... with the realised share
