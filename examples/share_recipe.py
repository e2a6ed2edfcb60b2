"""Share a mixing recipe: save it, reload it, push it to the Hub, and train from it by path or by repo id.

What it shows: a recipe is one small JSON file, `mix_config.json` (JSON only: nothing in it is executed or
unpickled), with a `mix_type` that tells `MixConfig.from_pretrained` which class to build.

1. Build TMix (MixText's hidden-state mixup): `MixupConfig(level="hidden", alpha=16, dominant_lambda=True)`.
2. `save_pretrained(dir)` writes `dir/mix_config.json`; `MixConfig.from_pretrained(dir)` gives the same recipe.
3. `push_to_hub(repo_id)` uploads it (with a README.md model card); `MixConfig.from_pretrained(repo_id)` fetches it.
4. `MixTrainingArguments(mix_config=dir or repo_id)` resolves the recipe when the arguments are built; a short
   `MixTrainer` run on a tiny random BERT then writes the recipe beside the weights it saves.
5. `hfmix config show DIR` prints the same JSON from the command line, and `hfmix config show --level hidden
   --alpha 16 --dominant_lambda` builds it from flags.

Offline (`--offline`, the default when HF_HUB_OFFLINE=1 is set or no Hugging Face token is found): the Hub calls
are replaced with `unittest.mock` by an in-memory fake Hub, so the script runs without network and shows which files
would be uploaded, with the commit message; nothing leaves the machine. `--online` pushes for real (needs a write
token from `hf auth login` and a repo id in a namespace you own).

    .venv/bin/python examples/share_recipe.py                          # offline: a few seconds
    .venv/bin/python examples/share_recipe.py --online --repo-id me/tmix-recipe

Caveats: the training step uses a tiny random model on random tokens only to show where the recipe ends up; its
scores mean nothing. `push_to_hub` writes the generic model card that transformers makes for any pushed object.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
from types import SimpleNamespace
from typing import Any
from unittest import mock

import torch
from datasets import Dataset
from huggingface_hub import get_token, is_offline_mode
from huggingface_hub.errors import EntryNotFoundError
from transformers import BertConfig, BertForSequenceClassification, default_data_collator

from hfmix import MixConfig, MixTrainer, MixTrainingArguments, MixupConfig
from hfmix.cli import main as hfmix_cli


class FakeHub:
    """A local-folder stand-in for the three Hub calls used here: create_repo, upload_folder and hf_hub_download."""

    def __init__(self, root: str):
        self.root, self.commits = root, []

    def create_repo(self, repo_id: str, **kwargs: Any) -> SimpleNamespace:
        return SimpleNamespace(repo_id=repo_id, url=f"https://huggingface.co/{repo_id}")

    def upload_folder(self, repo_id: str, folder_path: str, commit_message: str | None = None, **kwargs: Any):
        files = sorted(os.listdir(folder_path))  # read now: push_to_hub deletes its temporary folder after
        os.makedirs(os.path.join(self.root, repo_id), exist_ok=True)
        for name in files:
            shutil.copy(os.path.join(folder_path, name), os.path.join(self.root, repo_id, name))
        self.commits.append({"repo_id": repo_id, "message": commit_message, "files": files})
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/fake", oid="0" * 40)

    def hf_hub_download(self, repo_id: str, filename: str, **kwargs: Any) -> str:
        path = os.path.join(self.root, repo_id, filename)
        if not os.path.isfile(path):
            raise EntryNotFoundError(f"{filename} not in the fake Hub repo {repo_id}")
        return path

    @contextlib.contextmanager
    def patched(self):
        """Route hfmix's push_to_hub and from_pretrained to this fake Hub."""
        with (
            mock.patch("huggingface_hub.create_repo", side_effect=self.create_repo),
            mock.patch("huggingface_hub.upload_folder", side_effect=self.upload_folder),
            mock.patch("huggingface_hub.hf_hub_download", side_effect=self.hf_hub_download),
        ):
            yield self


def cli_output(argv: list[str]) -> str:
    """What `hfmix ARGV` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        hfmix_cli(argv)
    return out.getvalue()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo-id", default="your-name/tmix-recipe", help="Hub repo to push the recipe to.")
    parser.add_argument("--alpha", type=float, default=16.0)
    parser.add_argument("--layers", type=int, nargs="*", default=None, help="1-based layers (default: MixText's).")
    hub = parser.add_mutually_exclusive_group()
    hub.add_argument("--offline", action="store_true", default=None, help="Mock the Hub (the default without token).")
    hub.add_argument("--online", dest="offline", action="store_false", help="Push to the real Hub.")
    parser.add_argument("--train-steps", type=int, default=4, help="Steps of the tiny MixTrainer run.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", default="example_output/recipe")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    offline = args.offline if args.offline is not None else is_offline_mode() or get_token() is None
    if not offline and is_offline_mode():
        raise ValueError("--online, but HF_HUB_OFFLINE=1 is set: unset it, or run with --offline.")
    recipe_dir = os.path.join(args.output_dir, "tmix-recipe")

    # 1-2. build, save, reload
    recipe = MixupConfig(level="hidden", alpha=args.alpha, dominant_lambda=True, layers=args.layers)
    path = recipe.save_pretrained(recipe_dir)
    print(f"Saved {path}:\n{recipe.to_json_string()}")
    reloaded = MixConfig.from_pretrained(recipe_dir)
    print(f"MixConfig.from_pretrained({recipe_dir!r}) -> {type(reloaded).__name__}, same recipe: {reloaded == recipe}")

    # 3. push, then load by repo id
    hub = FakeHub(os.path.join(args.output_dir, "fake_hub"))
    with hub.patched() if offline else contextlib.nullcontext():
        commit = recipe.push_to_hub(args.repo_id)
        print(f"\n{'[offline: mocked Hub] ' if offline else ''}push_to_hub({args.repo_id!r}) -> {commit.commit_url}")
        for c in hub.commits:
            print(f"  would upload to {c['repo_id']} ({c['message']!r}): {', '.join(c['files'])}")
        from_hub = MixConfig.from_pretrained(args.repo_id)
        print(f"MixConfig.from_pretrained({args.repo_id!r}) -> same recipe: {from_hub == recipe}")

        # 4. training arguments from a path and from a repo id; a short run saves the recipe beside the weights
        by_path = MixTrainingArguments(output_dir=os.path.join(args.output_dir, "run"), mix_config=recipe_dir)
        training_args = MixTrainingArguments(
            output_dir=os.path.join(args.output_dir, "run"),
            mix_config=args.repo_id,
            max_steps=args.train_steps,
            per_device_train_batch_size=4,
            seed=args.seed,
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
        )
    print(
        f"\nMixTrainingArguments(mix_config={recipe_dir!r}).mix_config == recipe: {by_path.mix_config == recipe}\n"
        f"MixTrainingArguments(mix_config={args.repo_id!r}).mix_config == recipe: {training_args.mix_config == recipe}"
    )
    torch.manual_seed(args.seed)
    model = BertForSequenceClassification(
        BertConfig(
            vocab_size=100,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            num_labels=2,
        )
    )
    tokens = torch.randint(5, 100, (16, 8), generator=torch.Generator().manual_seed(args.seed))
    data = Dataset.from_dict({"input_ids": tokens.tolist(), "label": (tokens[:, 0] % 2).tolist()})
    trainer = MixTrainer(model=model, args=training_args, train_dataset=data, data_collator=default_data_collator)
    trainer.train()
    trainer.save_model()
    checkpoint = training_args.output_dir
    print(f"MixTrainer saved {checkpoint}: {', '.join(sorted(os.listdir(checkpoint)))}")
    print(f"  its recipe is the shared one: {MixConfig.from_pretrained(checkpoint) == recipe}")

    # 5. the command line: `hfmix config show DIR` and the same recipe from flags
    shown = cli_output(["config", "show", recipe_dir])
    flags = ["--level", "hidden", "--alpha", str(args.alpha), "--dominant_lambda"]
    flags += ["--layers", *map(str, args.layers)] if args.layers else []
    from_flags = cli_output(["config", "show", *flags])
    print(f"\n$ hfmix config show {recipe_dir}\n{shown}$ hfmix config show {' '.join(flags)}\n{from_flags}", end="")
    print(f"same JSON: {json.loads(shown) == json.loads(from_flags)}")
    return {
        "offline": offline,
        "recipe": recipe.to_dict(),
        "path": path,
        "reloaded": reloaded.to_dict(),
        "from_hub": from_hub.to_dict(),
        "uploads": hub.commits,
        "training_args_recipe": training_args.mix_config.to_dict(),
        "checkpoint_files": sorted(os.listdir(checkpoint)),
        "checkpoint_recipe": MixConfig.from_pretrained(checkpoint).to_dict(),
        "config_show": shown,
        "config_show_from_flags": from_flags,
    }


if __name__ == "__main__":
    main()
