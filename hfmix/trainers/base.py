"""`RecipeTrainer`: what every hfmix trainer shares (in the spirit of TRL's `BaseTrainer`).

- the recipe (`mix_config`), resolved once at construction from the argument, `args.mix_config` or a default;
- exact gradient accumulation: the loss is a per-micro-batch mean (`loss_is_scaled_for_ga = False`, and the
  `model_accepts_loss_kwargs = False` fallback on transformers < 5.19);
- a per-step `torch.Generator` seeded by (seed, process, global step, micro-step), so a resumed run draws what an
  uninterrupted one drew;
- `mix_config.json` beside every checkpoint and the final model, and a model card tagged `hfmix` / `<mix_type>`
  with the recipe and the method's citation.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import torch
import transformers
from packaging.version import Version
from torch import nn
from transformers import Trainer

from hfmix.config import CONFIG_NAME, MixConfig
from hfmix.registry import get_mix_config
from hfmix.sampling import MicroStepCounter, make_generator


logger = transformers.logging.get_logger(__name__)


class RecipeTrainer(Trainer):
    """Base of hfmix's [`~transformers.Trainer`] subclasses. Subclasses set `recipe_class` (the config type they
    accept) and `default_recipe` (the registered name used when no recipe is given)."""

    loss_is_scaled_for_ga = False
    recipe_class: ClassVar[type[MixConfig]] = MixConfig
    default_recipe: ClassVar[str] = "mixup"

    def __init__(
        self,
        model: nn.Module | None = None,
        args: transformers.TrainingArguments | None = None,
        *trainer_args: Any,
        mix_config: MixConfig | dict | str | None = None,
        **kwargs: Any,
    ):
        if not hasattr(self, "mix_config"):  # a subclass may resolve its recipe before this runs
            self.mix_config = self.resolve_recipe(mix_config, args)
        super().__init__(model, args, *trainer_args, **kwargs)
        if Version(transformers.__version__) < Version("5.19.0"):
            self.model_accepts_loss_kwargs = False  # older transformers: the only way to get GA division
        self._micro_steps = MicroStepCounter()
        if self.model is not None and hasattr(self.model, "add_model_tags"):
            self.model.add_model_tags(["hfmix", self.mix_config.mix_type])

    @classmethod
    def resolve_recipe(cls, mix_config: MixConfig | dict | str | None, args: Any) -> MixConfig:
        """The `mix_config` argument, else `args.mix_config` (`MixTrainingArguments`), else `default_recipe`.

        `MixTrainingArguments` fills a missing recipe with the default mixup one; a trainer whose recipes are of
        another kind reads that as "none given" and takes its own default.
        """
        if mix_config is None:
            mix_config = getattr(args, "mix_config", None)
            default = get_mix_config(None)
            if not isinstance(default, cls.recipe_class) and mix_config == default:
                mix_config = None  # MixTrainingArguments' stand-in for "no recipe given"
        config = get_mix_config(mix_config if mix_config is not None else cls.default_recipe)
        if not isinstance(config, cls.recipe_class):
            raise TypeError(
                f"{cls.__name__} takes a {cls.recipe_class.__name__} recipe, got {type(config).__name__} "
                f"(mix_type={config.mix_type!r})."
            )
        return config

    def _step_generator(self, process: int | None = None) -> torch.Generator:
        """This micro-batch's generator: seeded by (seed, process, global step, micro-step). `process` defaults to
        this process's index; pass 0 for draws that every process must share."""
        step = self.state.global_step
        process = self.args.process_index if process is None else process
        return make_generator(self.args.seed, process, step, self._micro_steps(step))

    # ------------------------------------------------------------------------------------ saving and resuming
    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        self._check_checkpoint_recipe(resume_from_checkpoint)
        super()._load_from_checkpoint(resume_from_checkpoint, model)

    def _check_checkpoint_recipe(self, checkpoint: str) -> None:
        """Read the checkpoint's `mix_config.json`: fail when it is corrupt, warn when it differs from this run's."""
        path = os.path.join(checkpoint, CONFIG_NAME)
        if not os.path.isfile(path):
            logger.warning(
                f"Resuming from {checkpoint}, which has no {CONFIG_NAME}; training goes on with this run's recipe."
            )
            return
        try:
            saved = MixConfig.from_json_file(path)
        except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as err:
            raise ValueError(
                f"Cannot resume from {checkpoint}: its {CONFIG_NAME} is corrupt ({err}). Restore the file, or delete "
                "it to resume with this run's recipe."
            ) from err
        ours, theirs = self.mix_config.to_dict(), saved.to_dict()
        changed = sorted(k for k in set(ours) | set(theirs) if k != "hfmix_version" and ours.get(k) != theirs.get(k))
        if changed:
            logger.warning(
                f"Resuming from {checkpoint} with a different recipe than the one it was trained with: "
                + ", ".join(f"{k}={theirs.get(k)!r} there, {ours.get(k)!r} now" for k in changed)
                + ". Training goes on with this run's recipe."
            )

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        if self.args.should_save:
            self.mix_config.save_pretrained(output_dir if output_dir is not None else self.args.output_dir)

    def create_model_card(self, *args: Any, tags: str | list[str] | None = None, **kwargs: Any) -> None:
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        tags += [t for t in ("hfmix", self.mix_config.mix_type) if t not in tags]
        super().create_model_card(*args, tags=tags, **kwargs)
        card = os.path.join(self.args.output_dir, "README.md")
        if self.is_world_process_zero() and os.path.isfile(card):
            with open(card, "a", encoding="utf-8") as fh:
                fh.write(
                    "\n## Mixing recipe (hfmix)\n\nTrained with hfmix; the recipe is in `mix_config.json`:\n\n"
                    f"```json\n{self.mix_config.to_json_string()}```\n"
                )
                if self.mix_config.card_citation():
                    fh.write(f"\n### Citation\n\n```bibtex\n{self.mix_config.card_citation()}\n```\n")
