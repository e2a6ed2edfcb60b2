"""`hfmix.methods.geodesic_mixup.config`: GeodesicMixupConfig round trip, validation and weight schedules."""

import json

import pytest
import torch

from hfmix.config import MixConfig
from hfmix.losses import GeodesicMixupLoss
from hfmix.methods.geodesic_mixup import GeodesicMixupConfig
from hfmix.registry import get_mix_config


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
