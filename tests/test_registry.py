"""The one registry: mix_type names, the aliases users know recipes by, and recipes without a mix_type."""

from __future__ import annotations

import pytest

from hfmix import MixTrainingArguments, MixupConfig, get_mix_config
from hfmix.registry import RECIPE_ALIASES, list_mixers, list_recipes


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
