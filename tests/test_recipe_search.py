"""Recipe search (`hfmix.recipe_search`): a seeded optuna study over recipes, scored by validation NLL then ECE;
the same space through `Trainer.hyperparameter_search`."""

from __future__ import annotations

import pytest
import tiny

from hfmix import MixTrainer, MixTrainingArguments, MixupConfig
from hfmix.recipe_search import RecipeSpace, TrialResult, hp_space, layer_numbers, results_table, search_recipe


optuna = pytest.importorskip("optuna", reason="the `tune` extra (in `dev`) installs optuna")


def test_a_seeded_search_is_reproducible_and_returns_the_lowest_nll_recipe():
    def score(recipe):  # a stand-in objective: lower α is better, pooled best, ties broken by ECE
        nll = recipe.alpha / 100 + {"pooled": 0.0, "hidden": 0.1, "embeddings": 0.2}[recipe.level]
        return {"nll": nll, "ece": 0.5 - recipe.mix_stop / 10, "accuracy": 0.5}

    space = RecipeSpace(methods=("mixup",))
    best, results = search_recipe(score, n_trials=12, seed=3, space=space, show_progress_bar=False)
    again, _ = search_recipe(score, n_trials=12, seed=3, space=space, show_progress_bar=False)
    assert best == again and len(results) == 12
    assert best == min(results, key=lambda r: r.key).recipe
    assert results[0].metrics["nll"] == min(r.metrics["nll"] for r in results)
    table = results_table(results)
    assert table.count("\n") == 13 and "| 1 |" in table


def test_regmixup_trials_search_eta_and_reach_the_default_recipe():
    def score(recipe):  # a stand-in objective whose optimum is the default recipe's eta 2, alpha 20
        return {"nll": abs(recipe.eta - 2.0) + abs(recipe.alpha - 20.0) / 20, "ece": 0.0, "accuracy": 0.5}

    space = RecipeSpace(methods=("regmixup",), levels=("embeddings",))
    best, results = search_recipe(score, n_trials=30, seed=0, space=space, show_progress_bar=False)
    etas = {r.recipe.eta for r in results}
    assert len(etas) == 30 and min(etas) >= 0.5 and max(etas) <= 4.0  # eta is searched, within its range
    assert max(r.recipe.alpha for r in results) > 16  # alpha reaches RegMixup's range (the default's 20)
    assert abs(best.eta - 2.0) < 0.5 and "η=" in results_table(results)


def test_ties_in_nll_are_broken_by_ece():
    a = TrialResult(0, MixupConfig(), {"nll": 0.50001, "ece": 0.2})
    b = TrialResult(1, MixupConfig(), {"nll": 0.50002, "ece": 0.1})
    assert sorted([a, b], key=lambda r: r.key)[0] is b


def test_layer_sets_are_layer_numbers():
    assert layer_numbers("tmix", 6) is None
    assert layer_numbers("all", 4) == [1, 2, 3, 4] and layer_numbers("lower", 4) == [1, 2]
    assert layer_numbers("upper", 4) == [3, 4]
    with pytest.raises(ValueError, match="layer set"):
        layer_numbers("middle", 4)


def test_trainer_hyperparameter_search_tries_recipes_through_mix_config(tmp_path):
    seen = []

    class Recording(MixTrainer):
        def compute_loss(self, *args, **kwargs):
            if not seen or seen[-1] is not self.mix_config:
                seen.append(self.mix_config)
            return super().compute_loss(*args, **kwargs)

    args = MixTrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, report_to=[],
                                use_cpu=True, save_strategy="no", disable_tqdm=True)  # fmt: skip
    trainer = Recording(
        model_init=lambda: tiny.text_model("bert"),
        args=args,
        train_dataset=tiny.text_dataset(n=8),
        eval_dataset=tiny.text_dataset(n=8, seed=1),
        data_collator=tiny.PadCollator(),
    )
    best = trainer.hyperparameter_search(
        hp_space=hp_space, backend="optuna", n_trials=2, direction="minimize",
        compute_objective=lambda metrics: metrics["eval_loss"], sampler=optuna.samplers.TPESampler(seed=0),
    )  # fmt: skip
    assert {"method", "level", "alpha", "lambda_per", "mix_stop"} <= set(best.hyperparameters)  # the trial's draws
    assert len(seen) >= 2 and all(isinstance(c, MixupConfig) for c in seen)
    assert seen[0] != MixupConfig()  # the trial's recipe, not the default
