"""Nothing silently wrong: every hostile input in one place, one line each.

Each battery is a parametrized list; the next hostile input is one more line in it. Sections: config floats
(finiteness over the whole registry, then ranges), λ sampling, labels, model outputs, and room for the CLI and
resume batteries.
"""

import dataclasses
import json
import math
import typing

import pytest
import torch

from hfmix import MixConfig, list_mixers
from hfmix.registry import get_mixer_class
from hfmix.sampling import sample_lambda
from hfmix.targets import check_labels, infer_problem_type, logits_of


# ------------------------------------------------------------------------------------------ config: finiteness
def _is_float_field(annotation) -> bool:
    """float, list[float], and either of them `| None`."""
    if annotation is float:
        return True
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (list, tuple):
        return args[0] is float
    return any(_is_float_field(a) for a in args if a is not type(None))


def _float_fields():
    for mix_type in list_mixers():
        cls = get_mixer_class(mix_type)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if _is_float_field(hints[f.name]):
                yield mix_type, f.name, typing.get_origin(hints[f.name]) is list or "list" in str(hints[f.name])


FLOAT_FIELDS = list(_float_fields())
NON_FINITE = [math.inf, -math.inf, math.nan]


def test_the_battery_covers_the_fields_that_went_wrong():
    names = {(t, n) for t, n, _ in FLOAT_FIELDS}
    assert {("mixup", "alpha"), ("mixup", "contrastive_weight"), ("mixup", "snr_db"), ("fmix", "decay_power")} <= names
    assert {("geodesic_mixup", "beta"), ("supremix", "negative_alpha")} <= names


@pytest.mark.parametrize("value", NON_FINITE, ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("mix_type, name, is_list", FLOAT_FIELDS, ids=[f"{t}.{n}" for t, n, _ in FLOAT_FIELDS])
def test_every_float_field_refuses_non_finite_values(mix_type, name, is_list, value):
    bad = [value, value] if is_list else value
    with pytest.raises(ValueError, match=rf"\b{name}\b.*finite"):
        get_mixer_class(mix_type)(**{name: bad})
    with pytest.raises(ValueError, match=rf"\b{name}\b.*finite"):  # the same through a dict (JSON, YAML, CLI)
        MixConfig.from_dict({"mix_type": mix_type, name: bad})


@pytest.mark.parametrize("text", ["Infinity", "-Infinity", "NaN"])
def test_json_infinity_and_nan_are_refused(tmp_path, text):
    path = tmp_path / "mix_config.json"
    path.write_text(f'{{"mix_type": "mixup", "alpha": {text}}}')
    assert not math.isfinite(json.loads(path.read_text())["alpha"])  # Python's json reads them
    with pytest.raises(ValueError, match="alpha.*finite"):
        MixConfig.from_pretrained(path)


@pytest.mark.parametrize("text", [".inf", "-.inf", ".nan"])
def test_yaml_infinity_and_nan_are_refused(text):
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(f"mix_type: fmix\ndecay_power: {text}\n")
    with pytest.raises(ValueError, match="decay_power.*finite"):
        MixConfig.from_dict(data)


def test_huge_integers_in_float_fields_are_refused():
    with pytest.raises(ValueError, match="alpha.*finite"):
        MixConfig.from_dict({"mix_type": "mixup", "alpha": 10**400})


# ---------------------------------------------------------------------------------------------- config: ranges
# (mix_type, fields, the field the error names). Finite values that would still train silently wrong.
OUT_OF_RANGE = [
    ("mixup", {"alpha": 1e308}, "alpha"),  # λ = 0 for every draw: each row replaced by its partner
    ("mixup", {"alpha": 1001.0}, "alpha"),
    ("mixup", {"alpha": -1.0, "prob": 0.0}, "alpha"),
    ("mixup", {"prob": -0.1}, "prob"),
    ("mixup", {"bandwidth": -1.0}, "bandwidth"),
    ("mixup", {"contrastive_weight": -0.5}, "contrastive_weight"),
    ("mixup", {"contrastive_temperature": 1e-40}, "contrastive_temperature"),  # 1/τ overflows: NaN losses
    ("mixup", {"contrastive_temperature": -0.1}, "contrastive_temperature"),
    ("mixup", {"level": "inputs", "snr_db": [0.0, 1e300]}, "snr_db"),
    ("mixup", {"level": "inputs", "snr_db": [-1e3, 0.0]}, "snr_db"),
    ("fmix", {"alpha": 1e308}, "alpha"),
    ("fmix", {"decay_power": 50.0}, "decay_power"),  # the 1/f^δ spectrum overflows float32
    ("cutmix", {"alpha": 5000.0}, "alpha"),
    ("geodesic_mixup", {"beta": 1e308}, "beta"),  # λ = 0 for every draw
    ("geodesic_mixup", {"unimodal_beta": 5000.0}, "unimodal_beta"),
    ("supremix", {"negative_alpha": [2.0, 1e308]}, "negative_alpha"),
]


@pytest.mark.parametrize("mix_type, fields, name", OUT_OF_RANGE, ids=[f"{t}-{n}" for t, _, n in OUT_OF_RANGE])
def test_out_of_range_fields_name_the_field(mix_type, fields, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        get_mixer_class(mix_type)(**fields)


@pytest.mark.parametrize("mix_type", ["mixup", "fmix", "cutmix"])
def test_the_largest_allowed_alpha_still_mixes(mix_type):
    config = get_mixer_class(mix_type)(alpha=1000.0)
    lam = sample_lambda(config.alpha, 1000, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(lam).all() and ((lam > 0.4) & (lam < 0.6)).all()


# ------------------------------------------------------------------------------------------------- λ sampling
@pytest.mark.parametrize("alpha", [math.inf, math.nan, -math.inf, 0.0, -1.0, 1e308])
def test_sample_lambda_refuses_unusable_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        sample_lambda(alpha, 4, generator=torch.Generator().manual_seed(0))


# ------------------------------------------------------------------------------------------------------ labels
INF, NAN = math.inf, math.nan
# (problem_type or None = inferred as MixTrainer does, logits shape, labels, what the error must say)
BAD_LABELS = [
    ("regression", (4, 1), [0.1, INF, 0.2, 0.3], r"not finite .*rows \[1\]"),
    ("regression", (4, 1), [0.1, 0.2, -INF, NAN], r"not finite .*rows \[2, 3\]"),
    (None, (4, 1), [0.1, INF, 0.2, 0.3], r"not finite .*rows \[1\]"),
    ("multi_label_classification", (3, 2), [[0.0, 1.0], [2.0, 0.0], [0.0, 1.0]], r"\[0, 1\].*rows \[1\]"),
    ("multi_label_classification", (3, 2), [[0.0, 1.0], [0.0, 1.0], [-0.5, 1.0]], r"\[0, 1\].*rows \[2\]"),
    ("multi_label_classification", (3, 2), [[0.0, INF], [0.0, 1.0], [0.0, 1.0]], r"not finite .*rows \[0\]"),
    ("single_label_classification", (3, 3), [[1.0, 0.0, 0.0], [1.5, -0.5, 0.0], [0, 0, 1.0]], r">= 0.*rows \[1\]"),
    ("single_label_classification", (3, 3), [[1.0, 0.0, 0.0], [0.5, 0.6, 0.0], [0, 0, 1.0]], r"sum to 1.*rows \[1\]"),
    ("single_label_classification", (3, 3), [[1.0, 0.0, 0.0], [0, 0, 1.0], [0.2, 0.2, 0.2]], r"sum to 1.*rows \[2\]"),
    (None, (4, 3), [0.0, 1.0, 2.0, 0.0], "float class ids.*cast the label column to int"),
    ("single_label_classification", (4, 3), [0.0, 1.0, 2.0, 0.0], "float class ids.*cast the label column to int"),
    (None, (4, 3), [0.5, 1.0, 2.0, 0.0], "num_labels=3.*integers"),
    ("single_label_classification", (4, 3), torch.tensor([0, 1, 7, 2]), r"Class label 7 .*rows \[2\]"),
    ("token_classification", (2, 3, 4), torch.tensor([[0, 1, -100], [9, 0, -100]]), r"Token label 9 .*rows \[1\]"),
    (None, (2, 5, 8), torch.tensor([0, 1]), "one output per token"),  # a head-less model's last_hidden_state
]


@pytest.mark.parametrize("problem_type, shape, labels, message", BAD_LABELS)
def test_bad_labels_are_refused_naming_the_rows(problem_type, shape, labels, message):
    labels = labels if isinstance(labels, torch.Tensor) else torch.tensor(labels)
    logits = torch.zeros(shape)
    problem_type = infer_problem_type(problem_type, logits, labels)
    with pytest.raises(ValueError, match=message):
        check_labels(labels, logits, problem_type)


GOOD_LABELS = [
    ("regression", (4, 1), [0.1, -3.0, 1e6, 0.3]),
    ("multi_label_classification", (2, 2), [[0.0, 1.0], [0.25, 1.0]]),
    ("single_label_classification", (2, 3), [[0.2, 0.3, 0.5], [0.0, 0.0, 1.0]]),
    (None, (4, 3), torch.tensor([0, 1, 2, 0])),
    ("token_classification", (2, 3, 4), torch.tensor([[0, 1, -100], [3, 0, -100]])),
]


@pytest.mark.parametrize("problem_type, shape, labels", GOOD_LABELS)
def test_good_labels_pass(problem_type, shape, labels):
    labels = labels if isinstance(labels, torch.Tensor) else torch.tensor(labels)
    logits = torch.zeros(shape)
    check_labels(labels, logits, infer_problem_type(problem_type, logits, labels))


# ----------------------------------------------------------------------------------------------- model outputs
def test_a_model_without_a_head_is_named_as_such():
    import transformers as tf
    from tiny import text_config

    model = tf.AutoModel.from_config(text_config("bert")).eval()  # BertModel: no classification head
    outputs = model(input_ids=torch.tensor([[2, 7, 3]]))
    with pytest.raises(ValueError, match="BertModel gave no `logits`.*no task head.*AutoModelFor"):
        logits_of(outputs, type(model).__name__)
    with pytest.raises(ValueError, match="return_dict=True"):
        logits_of(model(input_ids=torch.tensor([[2, 7, 3]]), return_dict=False), "BertModel")
    logits = torch.zeros(1, 3)
    assert logits_of({"logits": logits}) is logits


# --------------------------------------------------------------------------------------------------------- CLI
# (hostile command lines and config files for `hfmix train` / `hfmix compare`: one parametrized line each.)
# Each writes its file(s) under `root` and returns the flags; the run must end with `hfmix train: error: MESSAGE`
# on stderr and exit status 2, before any model is loaded (the "model" is an empty directory).
def _csv(root, name: str, text: str) -> str:
    (root / name).write_bytes(text.encode("latin-1"))
    return str(root / name)


def _good_csv(root) -> str:
    return _csv(root, "ok.csv", "text,label\n" + "".join(f"row {i},{'ab'[i % 2]}\n" for i in range(40)))


def _labels(root, values) -> str:
    rows = "".join(f"row {i},{v}\n" for i, v in enumerate(values))
    return _csv(root, "scores.csv", "text,score\n" + rows)


DEEP = '{"a": ' * 100_000 + "1" + "}" * 100_000
CLI_CASES = [
    ("dir not saved", lambda r: ["--data", str((r / "plain").mkdir() or r / "plain")], "not one written by `Dataset.save_to_disk`"),
    ("0-byte csv", lambda r: ["--data", _csv(r, "empty.csv", "")], "is empty (0 bytes)"),
    ("header-only csv", lambda r: ["--data", _csv(r, "header.csv", "text,label\n")], "has no rows (a header only?)"),
    ("no model dir", lambda r: ["--model_name_or_path", str(r / "no_such_model")], "Model directory not found"),
    ("malformed --mix_config", lambda r: ["--mix_config", '{"alpha": }'], "--mix_config is not valid JSON"),
    ("mix_type a list", lambda r: ["--mix_config", '{"mix_type": ["mixup"]}'], "--mix_config: mix_type must be one name"),
    ("deep --mix_config", lambda r: ["--mix_config", DEEP], "--mix_config: the recipe is nested too deeply"),
    ("deep recipe file", lambda r: ["--config", _csv(r, "deep.json", DEEP)], "deep.json' is nested too deeply"),
    ("latin-1 recipe", lambda r: ["--config", _csv(r, "r.yaml", "alpha: 0.5 # café\n")], "r.yaml' is not UTF-8 text"),
    ("inf labels", lambda r: ["--data", _labels(r, [float(i % 7) if i % 9 else "inf" for i in range(40)]), "--label_column", "score"], "not finite (inf)"),
    ("-inf labels", lambda r: ["--data", _labels(r, [1.5 * i if i != 3 else "-inf" for i in range(40)]), "--label_column", "score"], "not finite (-inf)"),
]  # fmt: skip


@pytest.mark.parametrize("make, message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_one_line_errors(tmp_path, capsys, make, message):
    from hfmix.cli import main

    (tmp_path / "model").mkdir()
    base = [
        "--model_name_or_path",
        str(tmp_path / "model"),
        "--data",
        _good_csv(tmp_path),
        "--output_dir",
        str(tmp_path),
    ]
    code = main(["train", *base, "--eval_size", "5", "--calibration_size", "5", *make(tmp_path)])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # (above it, at most the datasets progress bars)
    assert code == 2 and last.startswith("hfmix train: error: ") and message in last, err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------------------ resume
# (hostile checkpoints: a missing, edited or foreign mix_config.json next to the weights, ...)
