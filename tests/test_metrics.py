"""`hfmix.metrics` is the home of the metrics and the old module names (`hfmix.calibration`,
`hfmix.embedding_metrics`, `hfmix.regression_metrics`) are aliases of it."""

import pytest

import hfmix
from hfmix import calibration, embedding_metrics, regression_metrics
from hfmix.metrics import calibration as calibration_home
from hfmix.metrics import embedding as embedding_home
from hfmix.metrics import regression as regression_home


@pytest.mark.parametrize(
    "alias, home",
    [(calibration, calibration_home), (embedding_metrics, embedding_home), (regression_metrics, regression_home)],
)
def test_old_module_names_are_aliases_of_the_metrics_package(alias, home):
    assert alias.__all__
    for name in alias.__all__:
        assert getattr(alias, name) is getattr(home, name)
    assert hfmix.metrics.calibration is calibration_home
