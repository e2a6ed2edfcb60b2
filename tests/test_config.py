"""`hfmix.config`: MixConfig round trips, dispatch to the registered subclass, validation, the Hub."""

import dataclasses
import json
from unittest import mock

import pytest

import hfmix
from hfmix import MixConfig, MixupConfig, RegMixupConfig, get_mix_config, list_mixers
from hfmix.config import CONFIG_NAME
from hfmix.registry import get_mixer_class


ALL_CONFIGS = [get_mixer_class(name) for name in list_mixers()]


@pytest.mark.parametrize("cls", ALL_CONFIGS, ids=lambda c: c.mix_type)
def test_round_trip_every_registered_config(tmp_path, cls):
    config = cls()
    path = config.save_pretrained(tmp_path)
    assert path == str(tmp_path / CONFIG_NAME)
    data = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert data["mix_type"] == cls.mix_type and data["hfmix_version"] == hfmix.__version__
    for loaded in (
        MixConfig.from_pretrained(tmp_path),
        MixConfig.from_pretrained(tmp_path / CONFIG_NAME),
        cls.from_pretrained(tmp_path),
        MixConfig.from_dict(config.to_dict()),
    ):
        assert type(loaded) is cls
        assert loaded == config


def test_round_trip_keeps_non_default_values(tmp_path):
    config = MixupConfig(
        alpha=16, level="hidden", layers=[7, 9], prob=0.5, lambda_per="sample", dominant_lambda=True, mix_stop=0.8
    )
    config.save_pretrained(tmp_path)
    loaded = MixConfig.from_pretrained(tmp_path)
    assert loaded == config and loaded.layers == [7, 9] and loaded.alpha == 16.0


def test_from_pretrained_overrides_fields(tmp_path):
    MixupConfig(alpha=0.2).save_pretrained(tmp_path)
    assert MixConfig.from_pretrained(tmp_path, level="pooled").level == "pooled"


def test_unknown_key_warns_and_is_dropped():
    with pytest.warns(UserWarning, match="future_option"):
        config = MixConfig.from_dict({"mix_type": "mixup", "alpha": 0.3, "future_option": 1})
    assert config.alpha == 0.3


@pytest.mark.parametrize(
    "data, field",
    [
        ({"alpha": "big"}, "alpha"),
        ({"prob": True}, "prob"),
        ({"layers": 3}, "layers"),
        ({"layers": [1.5]}, "layers"),
        ({"level": "logits"}, "level"),
        ({"dominant_lambda": "yes"}, "dominant_lambda"),
    ],
)
def test_wrong_types_name_the_field(data, field):
    with pytest.raises(ValueError, match=field):
        MixConfig.from_dict({"mix_type": "mixup", **data})


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": -1.0}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"prob": 1.5}, "prob"),
        ({"mix_stop": 0.0}, "mix_stop"),
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"layers": [0], "level": "hidden"}, "layers"),
        ({"layers": [3], "level": "embeddings"}, "layers"),
    ],
)
def test_out_of_range_values_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        MixupConfig(**kwargs)


def test_alpha_is_free_when_mixing_is_off():
    assert MixupConfig(alpha=0.0, prob=0.0).prob == 0.0


def test_unknown_mix_type_and_missing_mix_type():
    with pytest.raises(ValueError, match="Unknown mix_type 'cutmix-3d'"):
        MixConfig.from_dict({"mix_type": "cutmix-3d"})
    with pytest.raises(ValueError, match="mix_type"):
        MixConfig.from_dict({"alpha": 0.2})


def test_config_file_that_is_not_json(tmp_path):
    (tmp_path / CONFIG_NAME).write_text("alpha: 0.2\n")
    with pytest.raises(ValueError, match="not valid JSON"):
        MixConfig.from_pretrained(tmp_path)
    (tmp_path / CONFIG_NAME).write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        MixConfig.from_pretrained(tmp_path)


def test_missing_directory_file():
    with pytest.raises(ValueError, match="neither a registered mix_type"):
        get_mix_config("./no/such/dir/")


def test_get_mix_config_sources(tmp_path):
    assert (
        get_mix_config() == get_mix_config("calibrated-few-shot") == RegMixupConfig(alpha=20.0, eta=2.0)
    )  # the default
    assert get_mix_config("mixup", alpha=0.2) == MixupConfig(alpha=0.2)
    assert get_mix_config({"mix_type": "mixup", "level": "pooled"}).level == "pooled"
    original = MixupConfig(level="hidden")
    assert get_mix_config(original) is original
    assert get_mix_config(original, alpha=1.0) == MixupConfig(level="hidden", alpha=1.0)
    original.save_pretrained(tmp_path)
    assert get_mix_config(str(tmp_path)) == original
    with pytest.raises(TypeError, match="MixConfig"):
        get_mix_config(3.5)


def test_hub_repo_id_goes_to_hf_hub_download(tmp_path):
    MixupConfig(alpha=0.7).save_pretrained(tmp_path)
    with mock.patch("huggingface_hub.hf_hub_download", return_value=str(tmp_path / CONFIG_NAME)) as download:
        config = get_mix_config("someone/recipe", revision="v1")
    download.assert_called_once_with(repo_id="someone/recipe", filename=CONFIG_NAME, revision="v1")
    assert config.alpha == 0.7


def test_push_to_hub_uploads_mix_config_and_a_recipe_card(tmp_path):
    uploaded = {}

    def fake_upload(repo_id, folder_path, **kwargs):
        uploaded["repo_id"] = repo_id
        uploaded["config"] = json.loads(open(f"{folder_path}/{CONFIG_NAME}").read())
        uploaded["card"] = open(f"{folder_path}/README.md").read()

    repo = mock.MagicMock(repo_id="me/my-recipe")
    with (
        mock.patch("huggingface_hub.create_repo", return_value=repo) as create,
        mock.patch("huggingface_hub.upload_folder", fake_upload),
    ):
        MixupConfig(alpha=0.3, level="pooled").push_to_hub("me/my-recipe", private=True)
    assert create.call_args.kwargs["private"] is True
    assert uploaded["repo_id"] == "me/my-recipe"
    assert uploaded["config"]["mix_type"] == "mixup" and uploaded["config"]["level"] == "pooled"
    assert "library_name: hfmix" in uploaded["card"] and "- mixup" in uploaded["card"]
    assert '"level": "pooled"' in uploaded["card"] and "zhang2018mixup" in uploaded["card"]


def test_loading_a_config_as_the_wrong_subclass():
    @dataclasses.dataclass
    class NotMixup(MixConfig):
        pass

    with pytest.raises(ValueError, match="not a NotMixup"):
        NotMixup.from_dict({"mix_type": "mixup"})
