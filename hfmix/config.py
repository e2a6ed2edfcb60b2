"""`MixConfig`: the Hub-shareable description of a mixing recipe, saved as `mix_config.json`.

A config is a plain dataclass. It is written as JSON only (nothing in it is executed or unpickled), carries a
`mix_type` discriminator so `MixConfig.from_pretrained` builds the right subclass, and an `hfmix_version` stamp.
Unknown keys (from a newer hfmix) warn and are dropped; wrong types and out-of-range values raise `ValueError`
naming the field. Every float field (and every entry of a list-of-float field) must be finite: JSON `Infinity`/`NaN`
and YAML `.inf`/`.nan` are refused here, once, for every registered config, before its `validate()` checks ranges.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import types
import typing
import warnings
from typing import Any, ClassVar, Literal

from transformers.utils import PushToHubMixin


CONFIG_NAME = "mix_config.json"
_HUB_KWARGS = ("revision", "token", "cache_dir", "force_download", "local_files_only", "subfolder")


class MixConfig(PushToHubMixin):
    """Base class of every mixing recipe (a `@dataclass` subclass registered with `@register_mixer`).

    Subclasses declare their fields with `field(default=..., metadata={"help": ...})` and check ranges in
    `validate()`. Types are checked here, from the annotations, for every field, and every float is checked to be
    finite (`validate()` may rely on it).
    """

    mix_type: ClassVar[str] = ""
    citation: ClassVar[str] = ""  # BibTeX of the method's paper, written into model cards

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), _field_types(type(self))[f.name]))
        self.validate()

    def validate(self) -> None:
        """Raise `ValueError` naming the field for out-of-range values. Subclasses extend this."""

    # ----------------------------------------------------------------------------------------------- dict / JSON
    def to_dict(self) -> dict[str, Any]:
        """All fields, plus `mix_type` and `hfmix_version`, as JSON-ready Python values."""
        from hfmix import __version__

        out: dict[str, Any] = {"mix_type": self.mix_type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, (list, tuple)) else value
        out["hfmix_version"] = __version__
        return out

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **overrides: Any) -> MixConfig:
        """Build the subclass named by `config_dict["mix_type"]` (or `cls` itself when the key is absent)."""
        from hfmix.registry import get_mixer_class

        if not isinstance(config_dict, dict):
            raise ValueError(f"A mix config must be a JSON object (dict), got {type(config_dict).__name__}.")
        data = {**config_dict, **overrides}
        data.pop("hfmix_version", None)
        mix_type = data.pop("mix_type", None)
        target = get_mixer_class(mix_type) if mix_type is not None else cls
        if cls is not MixConfig and not issubclass(target, cls):
            raise ValueError(
                f"mix_type={mix_type!r} builds {target.__name__}, which is not a {cls.__name__}; "
                f"load it with MixConfig.from_pretrained or {target.__name__}.from_pretrained."
            )
        if target is MixConfig:
            raise ValueError("The config has no `mix_type`; add one of hfmix.list_mixers() to it.")
        known = {f.name for f in dataclasses.fields(target)}
        unknown = sorted(set(data) - known)
        if unknown:
            warnings.warn(
                f"Ignoring unknown keys {unknown} for {target.__name__} (mix_type={target.mix_type!r}); "
                "they may come from a newer hfmix.",
                stacklevel=2,
            )
        return target(**{k: v for k, v in data.items() if k in known})

    # --------------------------------------------------------------------------------------- files and the Hub
    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any) -> str:
        """Write `mix_config.json` into `save_directory` (created if needed); return the file's path.

        With `push_to_hub=True`, also upload it (kwargs go to `push_to_hub`, e.g. `repo_id`, `token`).
        """
        if os.path.isfile(save_directory):
            raise ValueError(f"save_directory={str(save_directory)!r} is a file; pass a directory.")
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(save_directory, CONFIG_NAME)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.to_json_string())
        if push_to_hub:
            repo_id = kwargs.pop("repo_id", None) or os.path.basename(os.path.abspath(save_directory))
            self.push_to_hub(repo_id, **kwargs)
        return path

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Upload `mix_config.json` and a card describing the recipe (tagged `hfmix` and the method) to `repo_id`."""
        from huggingface_hub import create_repo, upload_folder

        repo_id = create_repo(repo_id, private=private, token=token, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as directory:
            self.save_pretrained(directory)
            with open(os.path.join(directory, "README.md"), "w", encoding="utf-8") as fh:
                fh.write(self.model_card())
            return upload_folder(
                repo_id=repo_id,
                folder_path=directory,
                token=token,
                revision=revision,
                create_pr=create_pr,
                commit_message=commit_message or f"Upload {self.mix_type} recipe",
            )

    def model_card(self) -> str:
        """A Hub card for the recipe: tags, how to load it, the JSON, the citation."""
        card = (
            f"---\nlibrary_name: hfmix\ntags:\n- hfmix\n- {self.mix_type}\n---\n\n"
            f"# {type(self).__name__} recipe for hfmix\n\nA `{self.mix_type}` mixing recipe. Use it with\n\n"
            '```python\nfrom hfmix import MixConfig, MixTrainer\n\nmix_config = MixConfig.from_pretrained("<this repo>")\n'
            "trainer = MixTrainer(model=model, args=args, mix_config=mix_config, ...)\n```\n\n"
            f"```json\n{self.to_json_string()}```\n"
        )
        citation = self.card_citation()
        return card + (f"\n## Citation\n\n```bibtex\n{citation}\n```\n" if citation else "")

    def card_citation(self) -> str:
        """BibTeX of the papers this recipe follows, for model cards (subclasses add those of their options)."""
        return self.citation

    @classmethod
    def from_pretrained(cls, pretrained_name_or_path: str | os.PathLike, **kwargs: Any) -> MixConfig:
        """Load `mix_config.json` from a local directory, a local JSON file, or a Hub repo id.

        Hub keyword arguments (`revision`, `token`, `cache_dir`, `subfolder`, ...) go to `hf_hub_download`;
        any other keyword overrides a field of the loaded config.
        """
        hub_kwargs = {k: kwargs.pop(k) for k in _HUB_KWARGS if k in kwargs}
        path = str(pretrained_name_or_path)
        subfolder = hub_kwargs.get("subfolder") or ""
        if os.path.isdir(os.path.join(path, subfolder)):
            file = os.path.join(path, subfolder, CONFIG_NAME)
            if not os.path.isfile(file):
                raise ValueError(f"No {CONFIG_NAME} in directory {path!r}; save one with config.save_pretrained(dir).")
        elif os.path.isfile(path):
            file = path
        else:
            from huggingface_hub import hf_hub_download

            file = hf_hub_download(repo_id=path, filename=CONFIG_NAME, **hub_kwargs)
        return cls.from_json_file(file, **kwargs)

    @classmethod
    def from_json_file(cls, json_file: str | os.PathLike, **overrides: Any) -> MixConfig:
        with open(json_file, encoding="utf-8") as fh:
            text = fh.read()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{str(json_file)!r} is not valid JSON ({err}); a mix config is a JSON object.") from err
        return cls.from_dict(data, **overrides)


# ------------------------------------------------------------------------------------------------ type checking
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


class NonFiniteValueError(ValueError):
    """A float field holds inf or NaN: right type, never a usable value (so a union does not try its other options)."""


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Check `value` against a simple annotation (bool/int/float/str, Literal, list[T], X | None).

    Floats must be finite: inf, -inf and NaN raise `NonFiniteValueError` (a `ValueError`) naming the field.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _coerce(name, value, option)
            except NonFiniteValueError:
                raise
            except ValueError:
                continue
        raise ValueError(f"{name}={value!r} has the wrong type: expected {_type_name(annotation)}.")
    if annotation is type(None):
        if value is not None:
            raise ValueError(f"{name}={value!r}: expected None.")
        return value
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{name}={value!r} is not one of {list(args)}.")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name}={value!r} has the wrong type: expected a list of {_type_name(args[0])}.")
        return [_coerce(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)]
    if annotation is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r} has the wrong type: expected true or false.")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}={value!r} has the wrong type: expected an integer.")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}={value!r} has the wrong type: expected a number.")
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
        if not math.isfinite(number):
            raise NonFiniteValueError(
                f"{name}={value!r} is not a finite number; every float of a mix config must be finite "
                "(JSON Infinity/NaN and YAML .inf/.nan are refused)."
            )
        return number
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError(f"{name}={value!r} has the wrong type: expected a string.")
        return value
    return value
