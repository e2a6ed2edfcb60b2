"""Recipe search: which mixing recipe gives the best-calibrated model on *your* data.

The search space covers what the quality benchmark showed to matter: the method (mixup and the calibration-aware
variants that are registered), the level, α, the layers of the hidden level, one λ per batch or per row, and when
mixing stops (`mix_stop`). Trials are scored by validation NLL, with ECE breaking ties, and the best recipe is a
`MixConfig`, ready for `save_pretrained` / `hfmix train --mix_config`.

Two ways in:
- `search_recipe(train_and_score, n_trials=..., seed=...)` runs an optuna study (the `tune` extra) over a function
  you give that trains with a recipe and returns validation metrics (`hfmix tune` does exactly this);
- `hp_space(trial)` is a `Trainer.hyperparameter_search(hp_space=hp_space, ...)` space for `MixTrainer` with
  `MixTrainingArguments`: it sets `mix_config`, which MixTrainer re-reads at each trial.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hfmix.config import MixConfig
from hfmix.registry import get_mix_config, list_mixers


CALIBRATED_METHODS = ("mixup", "regmixup", "rankmixup", "mixup_inference", "decoupled_mixup")
LAYER_SETS = ("tmix", "all", "lower", "upper")


@dataclass
class RecipeSpace:
    """The recipes a search may try. Methods that are not registered in this hfmix are left out."""

    methods: Sequence[str] = CALIBRATED_METHODS
    levels: Sequence[str] = ("embeddings", "hidden", "pooled")
    alpha: tuple[float, float] = (0.1, 32.0)  # RegMixup wants α around 20
    regmixup_eta: tuple[float, float] = (0.5, 4.0)  # RegMixup's η, its calibration knob (README, "Quality")
    lambda_per: Sequence[str] = ("batch", "sample")
    mix_stop: Sequence[float] = (0.5, 0.75, 1.0)
    layer_sets: Sequence[str] = LAYER_SETS
    fixed: dict[str, Any] = field(default_factory=dict)  # fields every recipe gets (e.g. {"lambda_correction": ...})

    def available_methods(self) -> list[str]:
        known = set(list_mixers())
        return [m for m in self.methods if m in known]


def suggest_recipe(trial: Any, space: RecipeSpace | None = None, num_layers: int | None = None) -> MixConfig:
    """One recipe drawn by an optuna `trial` from `space`. `num_layers` turns a layer set into layer numbers."""
    space = space or RecipeSpace()
    method = trial.suggest_categorical("method", space.available_methods())
    level = trial.suggest_categorical("level", list(space.levels))
    fields: dict[str, Any] = {
        "level": level,
        "alpha": trial.suggest_float("alpha", *space.alpha, log=True),
        "lambda_per": trial.suggest_categorical("lambda_per", list(space.lambda_per)),
        "mix_stop": trial.suggest_categorical("mix_stop", list(space.mix_stop)),
        **space.fixed,
    }
    if method == "regmixup":
        fields["eta"] = trial.suggest_float("eta", *space.regmixup_eta, log=True)
    if level == "hidden":
        layer_set = trial.suggest_categorical("layers", list(space.layer_sets))
        fields["layers"] = layer_numbers(layer_set, num_layers)
    return get_mix_config(method, **fields)


def layer_numbers(layer_set: str, num_layers: int | None) -> list[int] | None:
    """'tmix' (None: MixText's {7, 9, 12} scaled to the depth), 'all', 'lower' or 'upper' half, as 1-based layers."""
    if layer_set == "tmix" or num_layers is None:
        return None
    half = max(1, num_layers // 2)
    ranges = {"all": range(1, num_layers + 1), "lower": range(1, half + 1), "upper": range(half + 1, num_layers + 1)}
    if layer_set not in ranges:
        raise ValueError(f"layer set must be one of {list(LAYER_SETS)}, got {layer_set!r}.")
    return list(ranges[layer_set]) or [num_layers]


def hp_space(trial: Any) -> dict[str, Any]:
    """A `Trainer.hyperparameter_search` space (optuna backend) over recipes: `{"mix_config": {...}}`."""
    return {"mix_config": suggest_recipe(trial).to_dict()}


@dataclass
class TrialResult:
    number: int
    recipe: MixConfig
    metrics: dict[str, float]

    @property
    def key(self) -> tuple[float, float]:
        """Validation NLL (rounded to 1e-4, so noise-level differences tie), then ECE."""
        nll, ece = self.metrics.get("nll", math.inf), self.metrics.get("ece", math.inf)
        return (round(nll, 4) if math.isfinite(nll) else math.inf, ece if math.isfinite(ece) else math.inf)


def search_recipe(
    train_and_score: Callable[[MixConfig], dict[str, float]],
    *,
    n_trials: int = 20,
    seed: int = 0,
    space: RecipeSpace | None = None,
    num_layers: int | None = None,
    show_progress_bar: bool = True,
) -> tuple[MixConfig, list[TrialResult]]:
    """Run an optuna study (TPE, seeded) over recipes; `train_and_score(recipe)` returns validation metrics with at
    least `nll` (and `ece` for ties). Returns the best recipe and every trial, best first."""
    try:
        import optuna
    except ImportError as err:
        raise ImportError("Recipe search needs optuna: pip install 'hfmix[tune]'.") from err
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}.")
    results: list[TrialResult] = []

    def objective(trial: Any) -> float:
        recipe = suggest_recipe(trial, space, num_layers)
        metrics = train_and_score(recipe)
        if "nll" not in metrics:
            raise ValueError(f"train_and_score must return validation 'nll' (and 'ece'); got {sorted(metrics)}.")
        results.append(TrialResult(trial.number, recipe, metrics))
        return metrics["nll"] if math.isfinite(metrics["nll"]) else float("inf")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, show_progress_bar=show_progress_bar)
    ranked = sorted(results, key=lambda r: r.key)
    return ranked[0].recipe, ranked


def results_table(results: Sequence[TrialResult]) -> str:
    """A markdown table of the trials, best first."""
    lines = ["| rank | trial | recipe | NLL | ECE | accuracy |", "|---:|---:|---|---:|---:|---:|"]
    for rank, result in enumerate(results, 1):
        r, m = result.recipe, result.metrics
        recipe = f"{r.mix_type} {getattr(r, 'level', '')} α={getattr(r, 'alpha', float('nan')):.3g}"
        recipe += f" η={r.eta:.3g}" if hasattr(r, "eta") else ""
        recipe += f" λ/{getattr(r, 'lambda_per', '')} stop={getattr(r, 'mix_stop', 1.0)}"
        if getattr(r, "layers", None):
            recipe += f" layers={r.layers}"
        lines.append(
            f"| {rank} | {result.number} | {recipe} | {m.get('nll', math.nan):.4f} | {m.get('ece', math.nan):.4f} | "
            f"{m.get('accuracy', math.nan):.4f} |"
        )
    return "\n".join(lines)
