"""What every hfmix trainer does with its recipe: `mix_config.json` beside every checkpoint and the final model,
and a model card tagged `hfmix` / `<mix_type>` with the recipe and the method's citation."""

from __future__ import annotations

import os
from typing import Any

from hfmix.config import MixConfig


class RecipeSavingMixin:
    """Mix into a `transformers.Trainer` subclass that sets `self.mix_config` (before `Trainer.__init__`)."""

    mix_config: MixConfig

    def _tag_model(self) -> None:
        if hasattr(self.model, "add_model_tags"):
            self.model.add_model_tags(["hfmix", self.mix_config.mix_type])

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)  # type: ignore[misc]
        if self.args.should_save:
            self.mix_config.save_pretrained(output_dir if output_dir is not None else self.args.output_dir)

    def create_model_card(self, *args: Any, tags: str | list[str] | None = None, **kwargs: Any) -> None:
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        tags += [t for t in ("hfmix", self.mix_config.mix_type) if t not in tags]
        super().create_model_card(*args, tags=tags, **kwargs)  # type: ignore[misc]
        card = os.path.join(self.args.output_dir, "README.md")
        if self.is_world_process_zero() and os.path.isfile(card):
            with open(card, "a", encoding="utf-8") as fh:
                fh.write(
                    "\n## Mixing recipe (hfmix)\n\nTrained with hfmix; the recipe is in `mix_config.json`:\n\n"
                    f"```json\n{self.mix_config.to_json_string()}```\n"
                )
                if self.mix_config.citation:
                    fh.write(f"\n### Citation\n\n```bibtex\n{self.mix_config.citation}\n```\n")
